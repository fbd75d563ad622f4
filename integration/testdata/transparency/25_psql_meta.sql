-- psql client features: \gset, \gexec, \crosstabview, \gx, \pset formats, \if.
select 42 as answer, 'pgveil' as name, null as nothing \gset
\echo :answer :name [:nothing]
select :answer + 1 as next, :'name' as quoted, :"name" from (select 1 as pgveil) t;
select id as first_id, name as first_name from crm.customers order by id limit 1 \gset cust_
\echo :cust_first_id
select 1 as a, 2 as b from generate_series(1, 2) \gset
select 1 where false \gset
\if :{?answer}
\echo answer is set
\else
\echo answer is not set
\endif
select :answer > 40 as big \gset
\if :big
\echo big answer
\endif
select format('select %s as n, %L as sq', g, g * g) from generate_series(1, 3) g \gexec
select 'select 1/0' \gexec
select city, vip_level, count(*) from crm.customers where city in (select city from crm.customers group by city order by count(*) desc, city limit 4) group by city, vip_level order by city, vip_level \crosstabview city vip_level count
select status, extract(year from created_at)::int as yr, count(*) from crm.orders group by 1, 2 order by 1, 2 \crosstabview
select id, name, mobile, birthday from crm.customers order by id limit 3 \gx
\x auto
select id, name from crm.customers order by id limit 2;
\x off
\pset format csv
select id, name, address from crm.customers order by id limit 3;
\pset format unaligned
\pset fieldsep '|'
select id, name, vip_level from crm.customers order by id limit 3;
\pset format html
select id, name, '<b>&</b>' as html from crm.customers order by id limit 2;
\pset format asciidoc
select id, name from crm.customers order by id limit 2;
\pset format latex
select id, city from crm.customers order by id limit 2;
\pset format wrapped
\pset columns 60
select id, address, name_pinyin from crm.customers order by id limit 3;
\pset format aligned
\pset border 2
\pset linestyle unicode
select id, name, city from crm.customers order by id limit 3;
\pset border 0
select id, name from crm.customers order by id limit 2;
\pset border 1
\pset linestyle ascii
\pset tuples_only on
select id, name from crm.customers order by id limit 2;
\pset tuples_only off
\pset footer off
select 1 as nofooter;
\pset footer on
\pset numericlocale on
select 1234567.891::numeric, 1234567::int;
\pset numericlocale off
\pset title 'A title'
select 1 as titled;
\pset title
\a
\t
select 'toggled' as x;
\a
\t
select id, name from crm.customers order by id limit 2 \g (format=csv tuples_only=on)
\qecho to query output
\echo -n no newline
\echo
\encoding
\set ECHO queries
select 'echoed query' as x;
\set ECHO all
\set ECHO_HIDDEN on
\dt crm.orders
\set ECHO_HIDDEN off
\set QUIET on
create temp table quiet_t (a int);
\set QUIET off
select :SERVER_VERSION_NUM >= 150000 as is_15_plus, :'ENCODING' as enc;
\echo :LAST_ERROR_SQLSTATE :ERROR :ROW_COUNT
select 1/0;
\echo :LAST_ERROR_SQLSTATE :LAST_ERROR_MESSAGE :ERROR :SQLSTATE
select g from generate_series(1, 4) g;
\echo :ROW_COUNT
