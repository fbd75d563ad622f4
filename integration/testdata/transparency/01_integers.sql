-- Integer types: limits, casts, arithmetic, overflow.
select 1::int2 as a, (-32768)::int2 as b, 32767::int2 as c;
select 2147483647::int4 as max4, (-2147483648)::int4 as min4, 0::int4 as zero;
select 9223372036854775807::int8 as max8, (-9223372036854775808)::int8 as min8;
select 32767::int2 + 1::int2;
select 2147483647 + 1;
select 9223372036854775807::int8 * 2;
select g::int2, g::int4 * 1000, g::int8 * 1000000000000 from generate_series(-3, 3) g;
select 7 / 2 as div, 7 % 2 as mod, -7 / 2 as negdiv, 2 ^ 10 as pow, |/ 16 as sqrt, @ -5 as abs;
select x'7fffffff'::int4, x'ff'::int4::text, -32768::int2 as precedence_error;
select 42::oid, 'crm.customers'::regclass, 'int4'::regtype, 'lower(text)'::regprocedure;
select sum(g), avg(g), min(g), max(g), count(*) from generate_series(1, 1000) g;
