-- A 100k-row result, fully buffered and then with FETCH_COUNT (psql uses a cursor).
select g, c.id as customer_id, c.name, c.city, o.amount
from generate_series(1, 100000) g
join crm.customers c on c.id = (g % 1000) + 1
left join crm.orders o on o.id = (g % 5000) + 1
order by g;
select count(*), sum(g), md5(string_agg(g::text || c.name, ',' order by g))
from generate_series(1, 100000) g join crm.customers c on c.id = (g % 1000) + 1;
\set FETCH_COUNT 7777
select g, md5(g::text) as h, g * 1.5 as f from generate_series(1, 100000) g;
select g from generate_series(1, 10) g;
select 1 / (g - 50000) from generate_series(1, 100000) g;
\unset FETCH_COUNT
\pset format unaligned
\pset tuples_only on
select g || ':' || repeat('z', g % 50) from generate_series(1, 20000) g;
