-- bytea in hex and escape output.
show bytea_output;
select '\xdeadbeef'::bytea as hex_in, 'abc'::bytea as text_in, ''::bytea as empty, '\x'::bytea as empty_hex;
select E'\\000\\001\\377'::bytea as octal_in, 'a\\b'::bytea as backslash, decode('00ff10', 'hex') as decoded;
select convert_to('张伟', 'UTF8') as utf8_bytes, sha256('abc'::bytea) as digest;
select decode(repeat('01', 300), 'hex') as long_bytes;
select length(decode(repeat('ab', 100000), 'hex')) as len, md5(decode(repeat('ab', 100000), 'hex')) as md5;
set bytea_output = 'escape';
show bytea_output;
select '\xdeadbeef'::bytea as hex_in, 'abc'::bytea as text_in, ''::bytea as empty;
select E'\\000\\001\\377'::bytea as octal_in, 'a\\b'::bytea as backslash, decode('00ff10', 'hex') as decoded;
select convert_to('张伟', 'UTF8') as utf8_bytes, decode('0a0d09', 'hex') as controls;
select decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') as all_bytes from generate_series(0, 255) g;
reset bytea_output;
select decode(string_agg(lpad(to_hex(g), 2, '0'), ''), 'hex') as all_bytes from generate_series(0, 255) g;
select encode('\x00ff'::bytea, 'base64'), encode('hello'::bytea, 'escape'), get_byte('\x1234'::bytea, 1), set_byte('\x1234'::bytea, 0, 255);
select 'xyz'::bytea || '\x00'::bytea, substring('\x0102030405'::bytea from 2 for 3), position('\x03'::bytea in '\x010203'::bytea);
select '\xzz'::bytea;
