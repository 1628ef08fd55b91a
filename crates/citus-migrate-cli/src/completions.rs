//! `citus-migrate completions <shell>`: a shell completion script on stdout.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: CompletionsArgs) -> anyhow::Result<()> {
    let mut cmd = crate::Cli::command();
    clap_complete::generate(
        args.shell,
        &mut cmd,
        "citus-migrate",
        &mut std::io::stdout(),
    );
    Ok(())
}
