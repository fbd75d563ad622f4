-- Ranges and multiranges.
select int4range(1, 10), int4range(1, 10, '[]'), int8range(null, 5), numrange(1.5, 2.5, '(]'), daterange('2024-01-01', '2024-02-01'), 'empty'::int4range, '(,)'::int4range;
select tsrange('2024-01-01 00:00', '2024-01-02 12:00'), tstzrange('2024-01-01 00:00+08', 'infinity', '[)'), '[2024-01-01, infinity)'::daterange, numrange('-Infinity', 'Infinity');
select int4range(1, 10) @> 5, int4range(1, 5) && int4range(4, 8), int4range(1, 5) * int4range(3, 8), int4range(1, 5) + int4range(5, 8), lower(int4range(3, 7)), upper_inf('[1,)'::int4range), isempty(int4range(5, 5));
select int4range(1, 3) + int4range(5, 8);
select int4range(5, 1);
select '{[1,3), [5,8)}'::int4multirange, '{}'::int4multirange, '{[1,3), [2,6)}'::int4multirange as merged, nummultirange(numrange(1, 2), numrange(3, 4)), '{[2024-01-01,2024-01-05), [2024-02-01,)}'::datemultirange;
select '{[1,3), [5,8)}'::int4multirange @> 6, '{[1,10)}'::int4multirange - '{[3,5)}'::int4multirange, range_merge('{[1,3), [5,8)}'::int4multirange), unnest('{[1,3), [5,8)}'::int4multirange);
select range_agg(r), range_intersect_agg(r) from (values (int4range(1, 5)), (int4range(3, 9))) v(r);
select int4range(g, g + 2) from generate_series(1, 3) g;
