-- How many versions each customer has: a count, so it does not depend on when the build ran.
select id, count(*) as versions, count(distinct tier) as tiers, count(distinct email) as emails
from {{ ref('customer_tiers_snapshot') }}
group by id
