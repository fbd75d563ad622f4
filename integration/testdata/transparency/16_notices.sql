-- Notices and warnings, with DETAIL and HINT, interleaved with results.
do $$ begin raise notice 'hello from a DO block'; end $$;
do $$
begin
  raise notice 'notice % of %', 1, 3 using detail = 'a detail line', hint = 'a hint line';
  raise warning 'warning with unicode 张伟 😀' using detail = E'multi\nline detail';
  raise info 'info level';
  raise log 'log level, not sent at default client_min_messages';
  raise debug 'debug level, not sent';
  raise notice '%', repeat('long notice ', 5000);
end
$$;
set client_min_messages = warning;
do $$ begin raise notice 'suppressed'; raise warning 'shown'; end $$;
set client_min_messages = debug1;
do $$ begin raise debug 'debug now shown'; raise log 'log now shown'; end $$;
reset client_min_messages;
drop table if exists no_such_table_here;
create temp table if not exists nt (a int);
create temp table if not exists nt (a int);
select 1 as before \; do $$ begin raise notice 'between results'; end $$ \; select 2 as after;
create function pg_temp.noisy(i int) returns int language plpgsql as $$ begin raise notice 'noisy row %', i; return i * 10; end $$;
select pg_temp.noisy(g) from generate_series(1, 5) g;
\set VERBOSITY verbose
do $$ begin raise notice 'verbose notice' using detail = 'd', hint = 'h', errcode = '01000'; end $$;
do $$ begin raise warning using message = 'warning via using', errcode = 'P0001'; end $$;
\set VERBOSITY default
begin;
do $$ begin raise notice 'inside a transaction'; end $$;
commit;
commit;
rollback;
set nonexistent_setting_without_dot = 1;
set pgveil.custom_setting = 'x';
show pgveil.custom_setting;
