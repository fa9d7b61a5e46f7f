-- What an extract-load tool would have written before the first build.
create schema if not exists shop;
create or replace table shop.orders (
    order_id integer, customer_id integer, status varchar, amount integer, updated_at timestamp
);
insert into shop.orders values
    (1, 8, 'shipped', 443, timestamp '2024-07-01 03:00:00'),
    (2, 8, 'paid', 265, timestamp '2024-07-01 06:00:00'),
    (3, 4, 'open', 416, timestamp '2024-07-01 09:00:00'),
    (4, 8, 'shipped', 319, timestamp '2024-07-01 12:00:00'),
    (5, 3, 'open', 233, timestamp '2024-07-01 15:00:00'),
    (6, 5, 'open', 51, timestamp '2024-07-01 18:00:00'),
    (7, 1, 'shipped', 207, timestamp '2024-07-01 21:00:00'),
    (8, 8, 'shipped', 383, timestamp '2024-07-02 00:00:00'),
    (9, 3, 'shipped', 12, timestamp '2024-07-02 03:00:00'),
    (10, 2, 'open', 23, timestamp '2024-07-02 06:00:00'),
    (11, 4, 'open', 312, timestamp '2024-07-02 09:00:00'),
    (12, 1, 'paid', 172, timestamp '2024-07-02 12:00:00'),
    (13, 8, 'shipped', 436, timestamp '2024-07-02 15:00:00'),
    (14, 4, 'shipped', 124, timestamp '2024-07-02 18:00:00'),
    (15, 5, 'paid', 7, timestamp '2024-07-02 21:00:00'),
    (16, 2, 'paid', 340, timestamp '2024-07-03 00:00:00'),
    (17, 5, 'paid', 287, timestamp '2024-07-03 03:00:00'),
    (18, 2, 'shipped', 135, timestamp '2024-07-03 06:00:00'),
    (19, 6, 'open', 267, timestamp '2024-07-03 09:00:00'),
    (20, 5, 'open', 40, timestamp '2024-07-03 12:00:00'),
    (21, 2, 'paid', 60, timestamp '2024-07-03 15:00:00'),
    (22, 5, 'paid', 39, timestamp '2024-07-03 18:00:00'),
    (23, 1, 'shipped', 5, timestamp '2024-07-03 21:00:00'),
    (24, 4, 'open', 479, timestamp '2024-07-04 00:00:00'),
    (25, 1, 'paid', 197, timestamp '2024-07-04 03:00:00');
