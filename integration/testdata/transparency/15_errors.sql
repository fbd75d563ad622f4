-- Errors, verbose: syntax, division by zero, missing column, missing table, and more.
\set VERBOSITY verbose
selec 1;
select 1 from;
select 1/0;
select 1::numeric / 0;
select nosuchcol from crm.customers;
select * from crm.nosuchtable;
select * from nosuchtable;
select 'abc'::int;
select id from crm.customers c join crm.orders o on o.customer_id = c.id limit 1;
select nosuchfunction(1);
select lower(1, 2, 3);
insert into crm.customers (id, name) values (-1, 'x');
delete from crm.orders where id = -1;
select * from crm.customers where id = 'abc';
select repeat('x', 5000)::int;
select (select g from generate_series(1, 2) g);
select array[1, 2][3:1][1];
select to_date('2024-13-45', 'YYYY-MM-DD');
do $$ begin raise exception 'custom failure %', 42 using errcode = 'P0042', detail = 'the detail', hint = 'the hint', column = 'c', constraint = 'k', datatype = 'd', table = 't', schema = 's'; end $$;
do $$ begin perform 1 / 0; end $$;
\errverbose
\set VERBOSITY default
select 1/0;
select nosuchcol from crm.customers;
\errverbose
\set VERBOSITY terse
select 1/0;
select * from nosuchtable;
\set VERBOSITY sqlstate
select 1/0;
\set VERBOSITY default
\set SHOW_CONTEXT always
do $$ begin raise notice 'with context'; end $$;
do $$ begin perform 1 / 0; end $$;
\set SHOW_CONTEXT never
do $$ begin perform 1 / 0; end $$;
\set SHOW_CONTEXT errors
select 'still connected' as ok;
