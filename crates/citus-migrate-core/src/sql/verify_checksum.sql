-- citus-migrate verify: row count and content checksum of one table (or one key range of it), computed
-- on the server. {columns}, {table} and {where} are filled in by verify.rs: the table's columns in
-- name order (quoted), the quoted table name and a range predicate or "true".
-- Every row is rendered as text (ROW(...)::text, under the settings of verify_session.sql) and hashed
-- with two independent 64-bit hashes (PostgreSQL's hashtextextended with seeds 0 and 1); each is
-- summed as numeric (no overflow, no cancellation: a duplicated row adds its hashes twice, unlike
-- XOR), giving a 128-bit, order-independent checksum. verify.rs uses verify_checksum_md5.sql instead
-- when the two servers' hashtextextended disagree (servers of different byte order).
SELECT count(*)::int8                                              AS row_count,
       COALESCE(sum(hashtextextended(r COLLATE "C", 0)), 0)::text  AS sum_hi,
       COALESCE(sum(hashtextextended(r COLLATE "C", 1)), 0)::text  AS sum_lo
FROM (SELECT ROW({columns})::text AS r FROM ONLY {table} WHERE {where}) AS rows_text
