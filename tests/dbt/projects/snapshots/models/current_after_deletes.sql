-- The current versions once deleted customers are closed: ids only, so it does not depend on
-- when the build ran (a closed version's dbt_valid_to is the time of the build).
select 'timestamp' as strategy, id, tier from {{ ref('customers_invalidated') }} where dbt_valid_to is null
union all
select 'check' as strategy, id, tier from {{ ref('customer_tiers_invalidated') }} where dbt_valid_to is null
