-- citus-migrate verify: the portable variant of verify_checksum.sql (same placeholders and result),
-- used when source and target compute hashtextextended differently. Every row's text is hashed with
-- md5 and the two 64-bit halves are summed separately as numeric: a 128-bit, order-independent
-- checksum that detects duplicates. About four times slower than hashtextextended.
SELECT count(*)::int8                                                         AS row_count,
       COALESCE(sum(('x' || substr(h, 1, 16))::bit(64)::int8), 0)::text       AS sum_hi,
       COALESCE(sum(('x' || substr(h, 17, 16))::bit(64)::int8), 0)::text      AS sum_lo
FROM (SELECT md5(ROW({columns})::text) AS h FROM ONLY {table} WHERE {where}) AS rows_hashed
