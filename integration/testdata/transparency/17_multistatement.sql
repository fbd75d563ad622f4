-- Several statements in one Query message (psql sends lines joined by \; together).
select 1 as one \; select 2 as two \; select 3 as three;
select 1 as a, 'x' as b \; select 2 as c \; select;
select 1 as ok \; select 1/0 as bad \; select 3 as never;
select 'after error' as status;
create temp table ms (id int, v text) \; insert into ms values (1, 'a'), (2, 'b') \; update ms set v = v || '!' \; select * from ms order by id;
begin \; insert into ms values (3, 'c') \; commit \; select count(*) from ms;
begin \; insert into ms values (4, 'd') \; rollback \; select count(*) from ms;
insert into ms values (5, 'e') \; select 1/0 \; insert into ms values (6, 'f');
select count(*) from ms;
begin;
select 1 \; select 2;
select 1/0 \; select 2;
select 3;
rollback;
copy (select g from generate_series(1, 3) g) to stdout \; select 'after copy' as x;
select 'before copy' as x \; copy (select 'a' as t union all select 'b') to stdout with csv header;
set datestyle = 'German' \; select '2024-06-15'::date \; reset datestyle \; select '2024-06-15'::date;
\set SHOW_ALL_RESULTS off
select 1 as hidden \; select 2 as shown;
\set SHOW_ALL_RESULTS on
select 10 as a; select 20 as b; select 30 as c;
select 'semicolon in ; string' as s; select $$dollar;quoted$$ as d;
select 1 as x
  \; select 2 as y;
drop table ms;
