-- Arrays: multi-dimensional, NULL elements, bounds, quoting.
select array[1, 2, 3] as a1, array[[1, 2], [3, 4]] as a2, array[[[1], [2]], [[3], [4]]] as a3, '{}'::int[] as empty;
select array[1, null, 3] as with_null, array[null]::int[] as only_null, null::int[] as null_array, array[[null, 1], [2, null]] as md_null;
select '[0:2]={1,2,3}'::int[] as lbound0, '[-2:-1][3:4]={{1,2},{3,4}}'::int[] as neg_bounds, array_dims('[0:2]={1,2,3}'::int[]), array_lower('[0:2]={1,2,3}'::int[], 1);
select array['a', 'b c', 'd,e', 'f"g', 'h\i', '', null, 'NULL', ' x ', '{}'] as text_quoting;
select array['张伟', '李娜', '😀'] as unicode, array[true, false, null] as bools, array[1.5, 'NaN', 'Infinity']::numeric[] as nums, array['Infinity', '-0', 'NaN']::float8[] as floats;
select array['2024-01-01'::date, 'infinity'], array['1 day'::interval, '-2 hours'], array['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid], array['\xdead'::bytea, '\x'], array['{"a":1}'::jsonb, '[1]'];
select array['192.168.0.1/24'::inet], array[int4range(1, 5), 'empty'], array[point(1, 2), point(3, 4)], array[B'101'::varbit], array[row(1, 'a'), row(2, null)];
select '{{1,2},{3}}'::int[];
select (array[1, 2, 3])[2], (array[1, 2, 3])[5], (array[1, 2, 3, 4])[2:3], (array[[1, 2], [3, 4]])[2][1], array_length(array[[1, 2], [3, 4]], 2), cardinality(array[[1, 2], [3, 4]]);
select array_append(array[1], 2), array_prepend(0, array[1]), array_cat(array[1], array[2, 3]), array_remove(array[1, null, 1, 2], 1), array_replace(array[1, 2], 2, null), array_position(array['a', 'b'], 'b');
select unnest(array[[1, 2], [3, 4]]), generate_subscripts(array[[1, 2], [3, 4]], 1);
select array_agg(g order by g desc), array_agg(g) filter (where g % 2 = 0), array_to_string(array[1, null, 3], ',', '*'), string_to_array('a,b,,c', ',', '') from generate_series(1, 6) g;
select 3 = any(array[1, 2, 3]), 4 = all(array[4, 4]), array[1, 2] @> array[2], array[1, 2] && array[3], array[1, 2] < array[1, 3];
select array_fill(7, array[2, 3]), array_fill('x'::text, array[2], array[5]), array(select name from crm.customers order by id limit 3);
select array[1, 2] || array[[3, 4]];
select array_agg(array[g, g * 10]) from generate_series(1, 3) g;
select array[1::int2, 2], array[1::int8, 9223372036854775807], array['x'::char(3)], array['varchar'::varchar(10)], array[1.5::float4];
