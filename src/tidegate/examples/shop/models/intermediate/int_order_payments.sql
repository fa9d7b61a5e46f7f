{{ config(materialized='ephemeral') }}

-- One row per paid order. Split payments (gift card + card) are summed;
-- the primary method is the non-gift-card method when there is one.
select
    order_id,
    count(*)                                        as payment_count,
    sum(amount)                                     as amount_paid,
    coalesce(sum(amount) filter (where payment_method = 'gift_card'), 0) as gift_card_amount,
    coalesce(
        max(payment_method) filter (where payment_method <> 'gift_card'),
        'gift_card'
    )                                               as primary_payment_method
from {{ ref('stg_payments') }}
group by order_id
