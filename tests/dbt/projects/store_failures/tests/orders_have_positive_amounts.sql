{{ config(store_failures=true) }}
select order_id, amount from {{ ref('orders') }} where amount <= 0
