"""Speed and memory measurements (`make bench`, the Ray sweep's overhead); not part of the table."""
