-- Your first model: replace it with your own. `tidegate plan prod` builds it.
select 1 as id, 'hello' as greeting
