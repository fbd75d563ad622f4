-- bool, uuid, money, bit strings, geometric types, text search, xml, misc.
select true, false, null::bool, 't'::bool, 'off'::bool, 'yes'::bool, 1::bool;
select 'maybe'::bool;
select true and null, false and null, true or null, not null::bool, bool_and(b), bool_or(b) from (values (true), (false), (null)) v(b) group by ();
select 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{A0EEBC99-9C0B4EF8-BB6D6BB9-BD380A11}'::uuid, '00000000-0000-0000-0000-000000000000'::uuid;
select 'not-a-uuid'::uuid;
show lc_monetary;
select 1234.56::money, (-0.01)::money, '$1,000,000.00'::money * 3, 92233720368547758.07::money as maxmoney, 10::money / 3;
select B'1010' as bit4, B'1010'::bit(8) as bit8, B'101'::varbit, '0'::bit, B'1111' & B'1010', B'1100' # B'1010', ~B'1010', B'1' || B'0', X'1F'::bit(8);
select B'1010'::bit(2);
select B'102';
select '(1,2)'::point, point(1.5, -2.25), '((0,0),(1,1))'::lseg, '((0,0),(2,3))'::box, '[(0,0),(1,1),(2,0)]'::path, '((0,0),(1,1),(2,0))'::polygon, '<(1,1),5>'::circle, '{1,-1,0}'::line;
select point(0,0) <-> point(3,4) as dist, area('((0,0),(2,3))'::box), center('<(1,1),5>'::circle), '(1,1)'::point <@ '((0,0),(2,2))'::box;
select 'The quick brown foxes jumped'::tsvector, to_tsvector('english', 'The quick brown foxes jumped over the lazy dogs'), to_tsquery('english', 'fox & !dog'), to_tsvector('english', 'foxes') @@ to_tsquery('english', 'fox');
select '<a href="x">text &amp; more</a>'::xml, xmlelement(name foo, xmlattributes('bar' as baz), 'content'), xmlforest(1 as a, 'two' as b);
select '<unclosed>'::xml;
select '0/16B3748'::pg_lsn, '0/16B3748'::pg_lsn - '0/16B0000'::pg_lsn, '(1,2)'::tid, 'abc'::name, 'c'::"char", '12345'::xid8;
select pg_typeof(1), pg_typeof(1.0), pg_typeof('a'::text), pg_typeof(now()), pg_typeof(array[1]);
