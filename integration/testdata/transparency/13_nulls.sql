-- NULLs everywhere, with and without a null display string.
select null as unknown, null::int as i, null::text as t, null::bytea as b, null::jsonb as j, null::date as d, null::int[] as a, null::bool as bo, null::uuid as u, null::numeric as n, null::float8 as f;
\pset null 'NULL'
select null as unknown, null::int as i, null::text as t, ''::text as empty, null::bytea as b, null::jsonb as j, 'null'::jsonb as json_null;
select coalesce(null, null, 3), nullif(1, 1), nullif(1, 2), greatest(null, 1, 2), least(null::int, null), null = null as eq, null is null as isnull, null is distinct from null as distinct_from;
select x, y from (values (1, null), (null, 'b'), (null, null), (2, '')) v(x, y) order by x nulls first, y nulls last;
select count(*), count(x), sum(x), avg(x), max(x), string_agg(y, ',') from (values (null::int, null::text), (null, null)) v(x, y);
select array_agg(x), json_agg(x), jsonb_agg(x) from (values (null::int), (1), (null)) v(x);
select row(null, null) is null as row_null, row(1, null) is null as partial, row(null, null)::text;
select name, email, wechat_openid, qq_number from crm.customers where email is null or wechat_openid is null or qq_number is null order by id limit 10;
select campaign, count(*) from crm.orders group by campaign order by campaign nulls first;
\pset null ''
select g, case when g % 3 = 0 then null else g end as maybe, case when g % 2 = 0 then null else 'odd' end as text_maybe from generate_series(1, 10) g;
select null::int + 1, null || 'x', concat(null, 'x'), length(null), upper(null);
