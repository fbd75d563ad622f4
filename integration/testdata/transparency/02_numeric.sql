-- numeric: precision, scale, NaN, infinity, huge values.
select 'NaN'::numeric as nan, 'Infinity'::numeric as inf, '-Infinity'::numeric as ninf;
select 0.1::numeric + 0.2::numeric as sum, 1::numeric / 3 as third, 2::numeric / 3 * 3 as roundtrip;
select 123.456::numeric(6,2), 99999.995::numeric(10,2), -0.000001::numeric(10,6);
select 12345.678::numeric(5,2);
select 10::numeric ^ 300 as huge;
select factorial(120) as fact120;
select (10::numeric ^ 1000)::text = '1' || repeat('0', 1000) || '.0000000000000000' as huge_matches, length((10::numeric ^ 1000)::text);
select 1e-300::numeric as tiny, -1e-50::numeric(60,55) as tiny_scaled;
select round(2.5::numeric), round(-2.5::numeric), trunc(2.789::numeric, 1), ceil(1.1::numeric), floor(-1.1::numeric);
select 'NaN'::numeric = 'NaN'::numeric as nan_eq, 'NaN'::numeric > 1e1000::numeric as nan_gt;
select sum(x), avg(x) from (values (1.5::numeric), ('NaN'), (2.5)) v(x);
select '1e5'::numeric, '  12.50  '::numeric, '+0.0'::numeric, '-0'::numeric;
select 'abc'::numeric;
select sqrt(2::numeric), ln(10::numeric), exp(1::numeric), power(2::numeric, 0.5);
select scale(1.2300), min_scale(1.2300), trim_scale(1.2300);
