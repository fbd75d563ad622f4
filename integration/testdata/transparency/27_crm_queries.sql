-- Realistic queries over the CRM data.
select count(*) from crm.customers;
select count(*) from crm.orders;
select id, name, name_pinyin, mobile, email, id_number, birthday, gender, city, province, address, wechat_openid, qq_number, vip_level, consent_cross_border, created_at from crm.customers order by id limit 20;
select city, count(*) as customers, count(*) filter (where vip_level >= 3) as vips, round(avg(vip_level), 2) as avg_vip from crm.customers group by city order by customers desc, city limit 20;
select c.city, count(o.*) as orders, sum(o.amount) as revenue, min(o.amount), max(o.amount), round(avg(o.amount), 2) as avg_amount
from crm.customers c join crm.orders o on o.customer_id = c.id group by c.city order by revenue desc, c.city limit 15;
select o.status, o.campaign, count(*), sum(amount) from crm.orders o group by rollup (o.status, o.campaign) order by 1 nulls last, 2 nulls last;
select province, gender, count(*) from crm.customers group by grouping sets ((province), (gender), ()) order by 1 nulls last, 2 nulls last;
select id, name, city, vip_level,
       rank() over (partition by city order by vip_level desc, id) as rank_in_city,
       count(*) over (partition by city) as city_count,
       sum(vip_level) over (order by id rows between 2 preceding and current row) as moving_sum,
       lag(name) over (order by id) as prev_name,
       first_value(name) over (partition by city order by id) as first_in_city
from crm.customers order by id limit 30;
select customer_id, id, amount, sum(amount) over w as running, row_number() over w as n, percent_rank() over w
from crm.orders where customer_id <= 5 window w as (partition by customer_id order by created_at, id) order by customer_id, n;
with top as (
  select customer_id, sum(amount) as total from crm.orders where status not in ('cancelled', 'refunded') group by customer_id order by total desc, customer_id limit 10
)
select c.id, c.name, c.city, t.total, (select count(*) from crm.orders o where o.customer_id = c.id) as n_orders
from top t join crm.customers c on c.id = t.customer_id order by t.total desc, c.id;
select distinct on (city) city, id, name, vip_level from crm.customers order by city, vip_level desc, id limit 15;
select c.id, c.name, last.id as last_order, last.amount, last.status
from crm.customers c cross join lateral (select * from crm.orders o where o.customer_id = c.id order by created_at desc, id desc limit 1) last
where c.id <= 10 order by c.id;
select c.id, c.name from crm.customers c where not exists (select 1 from crm.orders o where o.customer_id = c.id) order by c.id limit 10;
select date_trunc('month', created_at) as month, count(*), sum(amount) from crm.orders group by 1 order by 1 limit 24;
select percentile_cont(array[0.25, 0.5, 0.75]) within group (order by amount), percentile_disc(0.9) within group (order by amount), mode() within group (order by status) from crm.orders;
select string_agg(name, '、' order by id) from crm.customers where id <= 10;
select * from crm.customer_contacts order by id limit 10;
select n.id, n.customer_id, n.note from crm.staff_notes n order by n.id limit 10;
select gender, extract(decade from birthday) as decade, count(*) from crm.customers group by 1, 2 order by 1, 2;
select city, array_agg(id order by id) filter (where vip_level = 5) as top_vips from crm.customers group by city having count(*) > 20 order by city;
select vip_level, consent_cross_border, count(*), jsonb_agg(id order by id) filter (where id <= 50) from crm.customers group by cube (vip_level, consent_cross_border) order by 1 nulls last, 2 nulls last;
explain (costs off) select * from crm.customers where id = 1;
explain (costs off) select c.city, count(*) from crm.customers c join crm.orders o on o.customer_id = c.id group by c.city;
select count(*) from crm.customers where name like '张%';
select id, name from crm.customers where name_pinyin ilike 'zhang%' order by id limit 5;
select id, mobile from crm.customers where mobile ~ '^13[0-9]{9}$' order by id limit 5;
select to_char(sum(amount), 'FM999,999,999.00') as total, to_char(avg(amount), '9999.99') from crm.orders;
table crm.customer_contacts limit 3;
values (1, 'one'), (2, 'two') order by 1 desc;
