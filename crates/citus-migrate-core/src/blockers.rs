//! Everything that stops a plan from being applied to this source: the catalog rules of the plan
//! (`Plan::blockers`) and, for each distribution column, NULLs counted in the data (a NULL
//! distribution value makes COPY into Citus fail). `generate` and `migrate` both check a plan here.

use crate::advice::{self, Blocker, Severity};
use crate::catalog::Catalog;
use crate::connect::connect;
use crate::conninfo::ConnInfo;
use crate::error::Result;
use crate::plan::Plan;

/// The plan's blockers on this source, errors and warnings. The NULL counts replace the catalog's
/// statistics-based warning about NULLs for the tables they were counted on.
pub async fn plan_blockers(
    source: &ConnInfo,
    catalog: &Catalog,
    plan: &Plan,
) -> Result<Vec<Blocker>> {
    let mut blockers = plan.blockers(catalog);
    let client = connect(source).await?;
    let nulls = advice::count_plan_nulls(&client, catalog, plan).await?;
    blockers.retain(|b| {
        !(b.code == "nulls_in_distribution_column"
            && b.severity == Severity::Warning
            && nulls.iter().any(|n| n.table == b.table))
    });
    blockers.extend(nulls);
    Ok(blockers)
}
