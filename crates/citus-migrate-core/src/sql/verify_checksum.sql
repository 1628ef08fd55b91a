-- citus-migrate verify: row count and content checksum of one table (or one key range of it), computed
-- on the server. {columns}, {table} and {where} are filled in by verify.rs: the table's columns in
-- name order (quoted), the quoted table name and a range predicate or "true".
-- Every row is rendered as text (ROW(...)::text, under the settings of verify_session.sql) and hashed
-- with md5; the two 64-bit halves are summed separately as numeric (no overflow, no cancellation: a
-- duplicated row adds its hash twice, unlike XOR), giving a 128-bit, order-independent checksum.
SELECT count(*)::int8                                                         AS row_count,
       COALESCE(sum(('x' || substr(h, 1, 16))::bit(64)::int8), 0)::text       AS sum_hi,
       COALESCE(sum(('x' || substr(h, 17, 16))::bit(64)::int8), 0)::text      AS sum_lo
FROM (SELECT md5(ROW({columns})::text) AS h FROM ONLY {table} WHERE {where}) AS rows_hashed
