import dagster as dg

#: One partition per landing file, named after it; the landing-zone sensor adds them as files arrive.
landing_files = dg.DynamicPartitionsDefinition(name="landing_files")
