-- citus-migrate catalog: triggers, rules and row-level security policies on user relations,
-- one row per object. Runs as-is in psql.
SELECT t.tgrelid::int8 AS table_oid, 'trigger'::text AS kind, t.tgname::text AS name,
       pg_get_triggerdef(t.oid) AS definition, t.tgenabled <> 'D' AS enabled
FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT t.tgisinternal
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT r.ev_class::int8, 'rule', r.rulename::text, pg_get_ruledef(r.oid), r.ev_enabled <> 'D'
FROM pg_rewrite r
JOIN pg_class c ON c.oid = r.ev_class
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE r.rulename <> '_RETURN'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
UNION ALL
SELECT p.polrelid::int8, 'policy', p.polname::text,
       CASE WHEN p.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END
         || ' FOR ' || CASE p.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT' WHEN 'w' THEN 'UPDATE'
                                      WHEN 'd' THEN 'DELETE' ELSE 'ALL' END
         || ' TO ' || COALESCE((SELECT string_agg(CASE WHEN r.oid = 0 THEN 'PUBLIC'
                                                       ELSE quote_ident(pg_get_userbyid(r.oid)) END, ', ')
                                FROM unnest(p.polroles) r(oid)), 'PUBLIC')
         || COALESCE(' USING (' || pg_get_expr(p.polqual, p.polrelid) || ')', '')
         || COALESCE(' WITH CHECK (' || pg_get_expr(p.polwithcheck, p.polrelid) || ')', ''),
       true
FROM pg_policy p
JOIN pg_class c ON c.oid = p.polrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2, 3;
