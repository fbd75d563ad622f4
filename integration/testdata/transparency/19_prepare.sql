-- SQL-level prepared statements.
prepare q(bigint) as select id, name, city, vip_level from crm.customers where id = $1;
execute q(1);
execute q(500);
execute q(999999);
prepare agg(text) as select city, count(*) from crm.customers where city = $1 group by city;
execute agg('北京市');
prepare ins(int, text) as select $1 + 1 as next, upper($2) as up, $2 is null as null_arg;
execute ins(41, 'abc');
execute ins(null, null);
execute ins('x', 'y');
execute ins(1);
select name, statement, parameter_types, from_sql from pg_prepared_statements order by name;
prepare q(int) as select 1;
deallocate q;
execute q(1);
deallocate q;
deallocate prepare agg;
select count(*) from pg_prepared_statements;
prepare typed(int, numeric, date, text[], jsonb) as select $1, $2, $3, $4, $5, pg_typeof($4);
execute typed(1, 'NaN', 'infinity', '{a,NULL}', '{"k": [1]}');
prepare untyped as select $1;
prepare mis as select nosuchcol from crm.customers;
prepare ddl as create temp table prep_t (x int);
deallocate all;
select count(*) from pg_prepared_statements;
select 'x' as v \gdesc
select id, name, birthday, vip_level, consent_cross_border, created_at from crm.customers \gdesc
select $1::int as param \gdesc
select nosuchcol \gdesc
