"""A run, without Prefect: discovery, planning batches of pages, one batch on a worker, the
run's steps. ``flows/`` decides where each step executes."""
