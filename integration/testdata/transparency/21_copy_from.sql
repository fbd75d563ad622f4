-- COPY FROM STDIN into temp tables with inline data, and \copy.
create temp table cf (id int primary key, name text, amount numeric, tags text[], at timestamptz, note text);
copy cf from stdin;
1	张伟	12.50	{vip,北京}	2024-06-15 12:00:00+08	plain
2	\N	\N	\N	\N	\N
3	tab\there	-0.01	{}	infinity	back\\slash
4	new\nline	NaN	{"a b",NULL}	2024-01-01 00:00:00+00	😀
\.
select * from cf order by id;
copy cf (id, name, note) from stdin with (format csv, header, null 'NULL');
id,name,note
10,"quoted, with comma","multi
line"
11,NULL,""
12,"""doubled""",x
\.
select id, name, note, note is null as note_null from cf where id >= 10 order by id;
copy cf (id, name) from stdin;
20	ok
21	ok
not-a-number	bad
22	never
\.
select count(*) from cf;
copy cf (id, name) from stdin;
1	duplicate key
\.
copy cf (id, name) from stdin with (format csv);
30,"unterminated
\.
select count(*) from cf;
copy cf (id, name) from stdin where id % 2 = 0;
40	even
41	odd
42	even
\.
select id, name from cf where id >= 40 order by id;
\copy cf (id, name) from stdin
50	via backslash copy
51	second
\.
\copy cf (id, name) from stdin with (format csv)
52,csv via backslash copy
\.
select id, name from cf where id >= 50 order by id;
\copy (select id, name, amount, tags, note from cf order by id) to stdout with (format csv, header)
\copy (select g, 'row ' || g, g * 0.5 from generate_series(1, 50000) g) to 'big.csv' with (format csv)
create temp table cf_big (a int, b text, c numeric);
\copy cf_big from 'big.csv' with (format csv)
select count(*), sum(a), sum(c), md5(string_agg(b, ',' order by a)) from cf_big;
\copy cf_big from 'missing-file.csv'
select 'done' as status;
-- Refused before any data is read: psql never enters COPY mode.
\copy crm.customers (id, name) from stdin
copy crm.customers (id, name) from stdin;
