-- Enums, composites and domains as temporary types; temp tables with every type.
create type pg_temp.mood as enum ('sad', 'ok', 'happy', '😀 joyful');
create type pg_temp.pair as (a int, b text);
create domain pg_temp.posint as int check (value > 0);
select 'happy'::pg_temp.mood, array['sad', 'ok']::pg_temp.mood[], 'sad'::pg_temp.mood < 'happy'::pg_temp.mood as ordered, enum_range(null::pg_temp.mood);
select 'angry'::pg_temp.mood;
select row(1, 'x')::pg_temp.pair, (row(2, 'y z')::pg_temp.pair).b, row(null, null)::pg_temp.pair, array[row(1, 'a,b')::pg_temp.pair, row(2, '"')::pg_temp.pair];
select 5::pg_temp.posint;
select (-5)::pg_temp.posint;
create temp table everything (
    i2 int2, i4 int4, i8 int8, n numeric, n52 numeric(5,2), f4 float4, f8 float8, m money,
    t text, c char(4), vc varchar(10), b bytea, bo bool,
    d date, tm time, tmtz timetz, ts timestamp, tstz timestamptz, iv interval,
    j json, jb jsonb, ai int[], at text[], u uuid, ip inet, cr cidr, mac macaddr,
    r int4range, mr int4multirange, bt bit(4), vb varbit, p point, e pg_temp.mood, pr pg_temp.pair, dm pg_temp.posint
);
insert into everything values (
    1, 2, 3, 4.5, 6.78, 1.25, -0.0, 9.99,
    'text', 'ch', 'varchar', '\x0001ff', true,
    '2024-06-15', '12:34:56', '12:34:56+08', '2024-06-15 12:34:56.789', '2024-06-15 12:34:56.789+08', '1 day 2 hours',
    '{"a": [1, "x"]}', '{"b": null}', '{1,NULL,3}', '{"a b",NULL,""}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1/8', '10.0.0.0/8', '08:00:2b:01:02:03',
    '[1,5)', '{[1,2),[4,6)}', B'1010', B'1', '(1.5,2.5)', 'happy', row(1, 'one'), 7
), (
    -32768, -2147483648, -9223372036854775808, 'NaN', -999.99, 'NaN', '-Infinity', -92233720368547758.08,
    '', '', '', '', false,
    '-infinity', '00:00', '00:00+00', 'infinity', '-infinity', '-178000000 years',
    '[]', '[]', '{}', '{}', '00000000-0000-0000-0000-000000000000', '::', '::/0', '00:00:00:00:00:00',
    'empty', '{}', B'0000', B'', '(0,0)', 'sad', row(null, null), 1
);
insert into everything default values;
\pset null '(null)'
select * from everything;
\x on
select * from everything;
\x off
select count(*), count(i4), count(*) filter (where t is null) from everything;
insert into everything (e) values ('nope');
insert into everything (dm) values (0);
insert into everything (n52) values (12345.678);
update everything set i4 = i4 + 1 where i2 = 1 returning i2, i4, t;
delete from everything where i2 is null returning *;
select * from everything order by i2;
drop table everything;
