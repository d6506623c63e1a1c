package org.fhirivc.hapi;

import ca.uhn.fhir.batch2.api.IJobMaintenanceService;
import ca.uhn.fhir.batch2.maintenance.JobMaintenanceServiceImpl;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import jakarta.annotation.PostConstruct;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Configuration;

/**
 * FHIR Bulk Data on this server: {@code $import} (HAPI's BULK_IMPORT_PULL batch2 job, which fetches
 * NDJSON files from URLs) and {@code $export} (Patient/Group/system level, files as Binary resources).
 *
 * <p>The jobs and the two operation providers come from HAPI (Batch2JobsConfig, JpaConfig); the
 * providers are registered in {@link RestServerConfig}. What is set here:
 * <ul>
 *   <li>the batch2 maintenance pass, which moves a job from step to step, runs every
 *       {@code fhirivc.batch.maintenance-millis} (default 1000 ms; HAPI's default is one minute,
 *       so an import of ten resources would take minutes); fast tracking on, so a small job's next
 *       step starts as soon as its chunks are done;</li>
 *   <li>no reuse of an earlier export job for an identical request (HAPI's default reuses it for
 *       its retention period, so a second export would miss what was written in between).</li>
 * </ul>
 * Nothing else of the server's behaviour changes (docs/bulk.md).
 */
@Configuration
public class BulkDataConfig {

	@Autowired
	private IJobMaintenanceService myJobMaintenanceService;

	@Autowired
	private JpaStorageSettings myStorageSettings;

	@Value("${fhirivc.batch.maintenance-millis:1000}")
	private long myMaintenanceMillis;

	@PostConstruct
	void configureBulkData() {
		// Called before the scheduler starts (it schedules jobs on context refresh), so the
		// maintenance job is registered with this interval.
		((JobMaintenanceServiceImpl) myJobMaintenanceService).setScheduledJobFrequencyMillis(myMaintenanceMillis);
		myStorageSettings.setJobFastTrackingEnabled(true);
		myStorageSettings.setEnableBulkExportJobReuse(false);
	}
}
