-- inet, cidr, macaddr, macaddr8.
select '192.168.1.5'::inet, '192.168.1.5/24'::inet, '10.0.0.0/8'::cidr, '::1'::inet, '2001:db8::/32'::cidr, '::ffff:1.2.3.4'::inet;
select 'fe80::1%eth0'::inet;
select '192.168.1.5/24'::cidr;
select '08:00:2b:01:02:03'::macaddr, '08-00-2B-01-02-03'::macaddr, '0800.2b01.0203'::macaddr, '08:00:2b:01:02:03:04:05'::macaddr8, '08:00:2b:01:02:03'::macaddr8;
select host('192.168.1.5/24'), masklen('192.168.1.5/24'), network('192.168.1.5/24'), broadcast('192.168.1.5/24'), netmask('192.168.1.5/24'::inet), abbrev('10.1.0.0/16'::cidr), family('::1');
select '192.168.1.5'::inet << '192.168.1.0/24'::inet, '192.168.1.5'::inet + 300, '192.168.1.5'::inet - '192.168.0.1'::inet, set_masklen('10.1.2.3/8'::inet, 16), inet_merge('192.168.1.5/24', '192.168.2.5/24');
select trunc('12:34:56:78:90:ab'::macaddr), macaddr8_set7bit('08:00:2b:01:02:03:04:05');
select '999.1.1.1'::inet;
select i from (values ('10.0.0.1'::inet), ('::1'), ('192.168.0.0/16'), ('10.0.0.1/32'), (null)) v(i) order by i nulls first;
