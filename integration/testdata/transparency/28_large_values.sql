-- Values and messages larger than the proxy's buffers, in both directions.
select length(repeat('x', 20000000)) as len, md5(repeat('x', 20000000)) as md5;
select repeat('0123456789', 20000) as big_text;
select decode(repeat('ab', 100000), 'hex') as big_bytea;
select g, repeat(chr(19968 + g), 30000) as wide from generate_series(1, 3) g;
select repeat('y', 100000) as v \gset
select length(:'v') as sent_back, md5(:'v') = md5(repeat('y', 100000)) as same;
select :'v' || 'z' as roundtrip_tail \gset
\echo :roundtrip_tail
select array_agg(repeat('a', 1000)) as big_array from generate_series(1, 200);
select jsonb_agg(jsonb_build_object('i', g, 's', repeat('j', 100))) as big_json from generate_series(1, 500) g;
select repeat('e', 30000)::int;
do $$ begin raise notice '%', repeat('N', 100000); end $$;
do $$ begin raise exception '%', repeat('E', 60000) using detail = repeat('D', 60000), hint = repeat('H', 60000); end $$;
select length(string_agg(repeat('s', 1000), '')) from generate_series(1, 50000);
create temp table bigrow (id int, t text, b bytea);
insert into bigrow select g, repeat('t', 1000000 * g), decode(repeat('cd', 500000 * g), 'hex') from generate_series(1, 3) g;
select id, length(t), length(b), md5(t), md5(b) from bigrow order by id;
copy (select id, left(t, 10), length(t) from bigrow order by id) to stdout;
copy (select t from bigrow where id = 1) to stdout;
