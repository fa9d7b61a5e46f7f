insert into raw.numbers values (0), (6), (7);
