package org.fhirivc.hapi;

import ca.uhn.fhir.batch2.jobs.config.Batch2JobsConfig;
import ca.uhn.fhir.jpa.api.config.ThreadPoolFactoryConfig;
import ca.uhn.fhir.jpa.batch2.JpaBatch2Config;
import ca.uhn.fhir.jpa.config.r4.JpaR4Config;
import ca.uhn.fhir.jpa.subscription.channel.config.SubscriptionChannelConfig;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.autoconfigure.context.PropertyPlaceholderAutoConfiguration;
import org.springframework.boot.autoconfigure.web.embedded.EmbeddedWebServerFactoryCustomizerAutoConfiguration;
import org.springframework.boot.autoconfigure.web.servlet.ServletWebServerFactoryAutoConfiguration;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * Entry point of the fhir-ivc test/demo FHIR server: HAPI FHIR JPA (R4) on H2 behind embedded Tomcat.
 *
 * <p>Deliberately NOT {@code @SpringBootApplication}: HAPI's JPA stack puts Hibernate, Spring Data,
 * Thymeleaf, Quartz, Elasticsearch clients, springdoc... on the classpath, and full auto-configuration
 * would try to configure all of them (a second EntityManagerFactory, a DataSource pool, MVC...). We
 * only take the three auto-configurations needed to run Tomcat with {@code server.*} properties; HAPI
 * supplies everything else through its own {@code @Configuration} classes, imported below exactly as
 * HAPI's own R4 test context (TestR4Config/TestJPAConfig) does, minus the test-only parts.
 */
@Configuration(proxyBeanMethods = false)
@ImportAutoConfiguration({
	PropertyPlaceholderAutoConfiguration.class,
	ServletWebServerFactoryAutoConfiguration.class, // Tomcat, server.port / server.address
	EmbeddedWebServerFactoryCustomizerAutoConfiguration.class // server.tomcat.* (relaxed query chars)
})
@Import({
	// HAPI: FhirContext (R4), all R4 DAOs + resource providers, JpaSystemProvider, search, terminology.
	JpaR4Config.class,
	// HAPI: paging provider, fulltext/stale-search services, resource counts (subclass, page sizes).
	FhirIvcHapiJpaConfig.class,
	// HAPI: batch2 job framework + the standard jobs ($expunge / delete-expunge, $reindex, bulk export).
	JpaBatch2Config.class,
	Batch2JobsConfig.class,
	ThreadPoolFactoryConfig.class,
	// HAPI: the in-memory message broker that batch2 sends its job notifications through. (Nothing
	// of subscriptions proper -- SubscriptionSubmitter/Processor configs -- is loaded: not needed.)
	SubscriptionChannelConfig.class,
	// Ours: storage settings, H2 DataSource, EntityManagerFactory, transactions.
	StorageConfig.class,
	// Ours: the RestfulServer at /fhir/*.
	RestServerConfig.class,
	// Ours: $import / $export (batch2 maintenance every second, no export job reuse).
	BulkDataConfig.class
})
public class FhirServerApplication {

	public static void main(String[] args) {
		SpringApplication.run(FhirServerApplication.class, args);
	}
}
