package org.fhirivc.hapi;

import ca.uhn.fhir.batch2.jobs.export.BulkDataExportProvider;
import ca.uhn.fhir.batch2.jobs.imprt.BulkDataImportProvider;
import ca.uhn.fhir.context.support.IValidationSupport;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.api.dao.IFhirSystemDao;
import ca.uhn.fhir.jpa.provider.IJpaSystemProvider;
import ca.uhn.fhir.jpa.provider.JpaCapabilityStatementProvider;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import ca.uhn.fhir.rest.server.RestfulServer;
import ca.uhn.fhir.rest.server.interceptor.LoggingInterceptor;
import ca.uhn.fhir.rest.server.provider.ResourceProviderFactory;
import ca.uhn.fhir.rest.server.util.ISearchParamRegistry;
import org.springframework.beans.factory.annotation.Qualifier;
import org.springframework.boot.web.servlet.ServletRegistrationBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** The FHIR REST endpoint: HAPI's RestfulServer servlet at /fhir/*, wired to the JPA providers. */
@Configuration
public class RestServerConfig {

	@Bean
	public ServletRegistrationBean<RestfulServer> fhirServlet(
			IFhirSystemDao<?, ?> systemDao,
			@Qualifier("myResourceProvidersR4") ResourceProviderFactory resourceProviders,
			IJpaSystemProvider systemProvider,
			JpaStorageSettings storageSettings,
			ISearchParamRegistry searchParamRegistry,
			IValidationSupport validationSupport,
			DatabaseBackedPagingProvider pagingProvider,
			BulkDataImportProvider bulkImportProvider,
			BulkDataExportProvider bulkExportProvider) {
		RestfulServer server = new RestfulServer(systemDao.getContext());
		// One provider per R4 resource type (read/vread/search/create/update/patch/delete/history,
		// conditional create/update/delete, and type-specific operations such as Patient/$everything).
		server.registerProviders(resourceProviders.createProviders());
		// System level: transaction/batch bundles, /_history, $meta, $expunge, ...
		server.registerProvider(systemProvider);
		// FHIR Bulk Data: $import / $import-poll-status and $export / $export-poll-status (BulkDataConfig).
		server.registerProvider(bulkImportProvider);
		server.registerProvider(bulkExportProvider);
		// /metadata generated from the registered providers and the active search parameters.
		JpaCapabilityStatementProvider capabilities = new JpaCapabilityStatementProvider(
				server, systemDao, storageSettings, searchParamRegistry, validationSupport);
		capabilities.setImplementationDescription("fhir-ivc HAPI FHIR R4 test server");
		server.setServerConformanceProvider(capabilities);
		// Search result pages are stored in the database (next/previous links survive between requests).
		server.setPagingProvider(pagingProvider);
		// One line per request in the server log (.fhir-server/server.log), for debugging tests.
		LoggingInterceptor requestLog = new LoggingInterceptor();
		requestLog.setLoggerName("fhirivc.requests");
		requestLog.setMessageFormat(
				"${requestVerb} ${requestUrl}${requestParameters} ${operationType} ${processingTimeMillis}ms");
		requestLog.setErrorMessageFormat("ERROR ${requestVerb} ${requestUrl}: ${exceptionMessage}");
		server.registerInterceptor(requestLog);
		// Note: no RequestValidatingInterceptor -- the server stores what it is sent (validation is
		// a separate, explicit step in this project).

		ServletRegistrationBean<RestfulServer> registration = new ServletRegistrationBean<>(server, "/fhir/*");
		registration.setName("fhir");
		registration.setLoadOnStartup(1); // initialise during startup, so the first request is not slow
		return registration;
	}
}
