{{ config(materialized='table', contract={'enforced': true}) }}
-- an enforced contract: dbt and tidegate check the names and types and create the columns in
-- the contract's order, with its not_null constraint
select customer, cast(id as integer) as order_id, cast(amount as decimal(10, 2)) as amount
from {{ ref('stg_orders') }}
