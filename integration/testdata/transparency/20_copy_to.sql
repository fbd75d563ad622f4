-- COPY ... TO STDOUT in text and CSV, with awkward values.
copy (select id, name, city, vip_level from crm.customers order by id limit 10) to stdout;
copy (select id, name, city, vip_level from crm.customers order by id limit 10) to stdout with (format csv, header);
copy (select id, customer_id, amount, status, campaign from crm.orders order by id limit 20) to stdout with (format csv, header, delimiter '|', null '<null>', force_quote *);
copy (select E'tab\there' as a, E'new\nline' as b, E'back\\slash' as c, null as d, '' as e, '"quoted", comma' as f, '中文😀' as g) to stdout;
copy (select E'tab\there' as a, E'new\nline' as b, E'back\\slash' as c, null as d, '' as e, '"quoted", comma' as f, '中文😀' as g) to stdout with csv;
copy (select 1.5::float8, 'NaN'::numeric, '\xdeadbeef'::bytea, array[1, null], '{"a": 1}'::jsonb, '2024-01-01 00:00+00'::timestamptz, 'infinity'::date, int4range(1, 2), true) to stdout;
copy (select g, md5(g::text) from generate_series(1, 20000) g) to stdout;
copy (select g from generate_series(1, 3) g) to stdout with (format text, delimiter ',');
copy (select 'x' as col) to stdout with (format csv, header, quote '''', escape '\', force_quote (col));
copy crm.customers (id, name, gender) to stdout where id < 3;
copy (select id, name, gender from crm.customers where id <= 5 order by id) to stdout with (format csv, header match);
copy (select id, name, gender from crm.customers where id <= 5 order by id) to stdout with (format csv, header true, encoding 'UTF8');
copy crm.staff_notes to stdout;
copy crm.nosuch to stdout;
copy (select 1/0) to stdout;
copy (select 1 / (g - 500) from generate_series(1, 1000) g) to stdout;
copy crm.customers to '/tmp/pgveil-should-not-be-allowed';
copy (select 'done') to stdout;
