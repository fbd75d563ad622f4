-- json keeps text as is, jsonb normalizes.
select '{"b": 1, "a": [1, 2, {"c": null}],   "a": "dup"}'::json as json_raw, '{"b": 1, "a": [1, 2, {"c": null}],   "a": "dup"}'::jsonb as jsonb_norm;
select '"\u4e2d\u6587 \ud83d\ude00"'::json, '"\u4e2d\u6587 \ud83d\ude00"'::jsonb, '"中文"'::jsonb, '{"k": "tab\there"}'::jsonb;
select '[]'::jsonb, '{}'::jsonb, 'null'::jsonb, 'true'::json, '1.50'::jsonb, '1e3'::jsonb, '-0'::jsonb, '123456789012345678901234567890'::jsonb;
select '{"a":'::jsonb;
select jsonb_pretty('{"customer": {"name": "张伟", "tags": ["vip", "北京"], "orders": [{"id": 1, "amount": 12.5}]}}'::jsonb);
select j -> 'a', j ->> 'a', j #> '{b,c}', j #>> '{b,c}', j ? 'a', j @> '{"a": 1}', j - 'a', j || '{"z": true}' from (values ('{"a": 1, "b": {"c": [1, "x"]}}'::jsonb)) v(j);
select jsonb_path_query('{"items": [{"p": 1}, {"p": 5}, {"p": 10}]}', '$.items[*] ? (@.p > 2).p');
select jsonb_path_query('{"a": 1}', 'strict $.b');
select json_build_object('id', 1, 'name', 'x', 'nums', array[1,2], 'n', null), json_agg(g), jsonb_object_agg('k' || g, g) from generate_series(1, 3) g;
select * from jsonb_each('{"a": 1, "b": "two", "c": null}'::jsonb);
select * from jsonb_to_recordset('[{"a": 1, "b": "x"}, {"a": 2, "b": null}]') as t(a int, b text);
select to_jsonb(row(1, 'a', null, array[1.5], '2024-01-01'::date)), row_to_json(row(1, 'b')), to_json('text with "quotes"'::text);
select jsonb_set('{"a": [1, 2]}', '{a, 1}', '"new"'), jsonb_insert('{"a": [1, 2]}', '{a, 0}', '0'), jsonb_strip_nulls('{"a": null, "b": 1}'), jsonb_typeof('[1]');
select row_to_json(c) from (select id, name, city, vip_level, birthday from crm.customers order by id limit 3) c;
select json_array_length('[1,2,3]'), jsonb_array_elements_text('["a", "b", null]');
