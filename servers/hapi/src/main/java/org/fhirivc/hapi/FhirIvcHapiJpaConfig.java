package org.fhirivc.hapi;

import ca.uhn.fhir.jpa.config.HapiJpaConfig;
import ca.uhn.fhir.jpa.search.DatabaseBackedPagingProvider;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** HAPI's {@link HapiJpaConfig} with our page sizes (default 20, max 200; overridable by properties). */
@Configuration
public class FhirIvcHapiJpaConfig extends HapiJpaConfig {

	@Value("${fhirivc.paging.default-page-size:20}")
	private int myDefaultPageSize;

	@Value("${fhirivc.paging.max-page-size:200}")
	private int myMaxPageSize;

	@Override
	@Bean
	public DatabaseBackedPagingProvider databaseBackedPagingProvider() {
		DatabaseBackedPagingProvider provider = super.databaseBackedPagingProvider();
		provider.setDefaultPageSize(myDefaultPageSize);
		provider.setMaximumPageSize(myMaxPageSize);
		return provider;
	}
}
