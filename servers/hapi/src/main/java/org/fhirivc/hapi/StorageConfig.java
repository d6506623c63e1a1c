package org.fhirivc.hapi;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.jpa.api.config.JpaStorageSettings;
import ca.uhn.fhir.jpa.binary.api.IBinaryStorageSvc;
import ca.uhn.fhir.jpa.binstore.DatabaseBinaryContentStorageSvcImpl;
import ca.uhn.fhir.jpa.config.util.HapiEntityManagerFactoryUtil;
import ca.uhn.fhir.jpa.model.config.PartitionSettings;
import ca.uhn.fhir.jpa.model.config.SubscriptionSettings;
import ca.uhn.fhir.jpa.model.dialect.HapiFhirH2Dialect;
import jakarta.persistence.EntityManagerFactory;
import java.util.Properties;
import javax.sql.DataSource;
import org.apache.commons.dbcp2.BasicDataSource;
import org.springframework.beans.factory.annotation.Value;
import org.springframework.beans.factory.config.ConfigurableListableBeanFactory;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Primary;
import org.springframework.orm.jpa.JpaTransactionManager;
import org.springframework.orm.jpa.LocalContainerEntityManagerFactoryBean;

/** The beans HAPI's JPA configuration expects the application to supply. */
@Configuration
public class StorageConfig {

	/**
	 * Storage behaviour, tuned for tests and the demo (see docs/hapi-server.md for the reasons).
	 * Conditional create/update, _total=accurate and $everything need nothing here: HAPI's defaults.
	 */
	@Bean
	public JpaStorageSettings storageSettings() {
		JpaStorageSettings s = new JpaStorageSettings();
		// Default is 60 s: an identical search repeated within a minute would be answered from the
		// cached result list and miss resources written in between. Tests must see their writes.
		s.setReuseCachedSearchResultsForMillis(null);
		// Clients may PUT any id (also purely numeric); server-assigned ids are then UUIDs, so the
		// two can never collide (HAPI's documented recommendation for ANY).
		s.setResourceClientIdStrategy(JpaStorageSettings.ClientIdStrategyEnum.ANY);
		s.setResourceServerIdStrategy(JpaStorageSettings.IdStrategyEnum.UUID);
		// Test clean-up: DELETE Patient?identifier=... matching many, and $expunge.
		s.setAllowMultipleDelete(true);
		s.setExpungeEnabled(true);
		s.setDeleteExpungeEnabled(true);
		// Absolute references (e.g. to a terminology or an organisation outside this server) are stored as-is.
		s.setAllowExternalReferences(true);
		return s;
	}

	@Bean
	public PartitionSettings partitionSettings() {
		return new PartitionSettings(); // partitioning off
	}

	@Bean
	public SubscriptionSettings subscriptionSettings() {
		return new SubscriptionSettings(); // no subscription channel types enabled
	}

	/**
	 * H2: in memory by default (fresh, empty server per start); set fhirivc.db.url to e.g.
	 * jdbc:h2:file:/some/dir/fhir to keep data across restarts.
	 */
	@Bean(destroyMethod = "close")
	public BasicDataSource dataSource(
			@Value("${fhirivc.db.url:jdbc:h2:mem:fhirivc;DB_CLOSE_DELAY=-1}") String url) {
		BasicDataSource ds = new BasicDataSource();
		ds.setDriver(new org.h2.Driver());
		ds.setUrl(url);
		ds.setUsername("sa");
		ds.setPassword("");
		ds.setMaxTotal(20);
		return ds;
	}

	@Bean
	@Primary
	public LocalContainerEntityManagerFactoryBean entityManagerFactory(
			ConfigurableListableBeanFactory beanFactory,
			FhirContext fhirContext,
			JpaStorageSettings storageSettings,
			DataSource dataSource) {
		LocalContainerEntityManagerFactoryBean emf =
				HapiEntityManagerFactoryUtil.newEntityManagerFactory(beanFactory, fhirContext, storageSettings);
		emf.setPersistenceUnitName("HAPI_PU");
		emf.setDataSource(dataSource);
		Properties p = new Properties();
		p.put("hibernate.dialect", HapiFhirH2Dialect.class.getName());
		p.put("hibernate.hbm2ddl.auto", "update"); // creates the schema in the empty database
		p.put("hibernate.jdbc.batch_size", "20");
		p.put("hibernate.format_sql", "false");
		p.put("hibernate.show_sql", "false");
		p.put("hibernate.cache.use_query_cache", "false");
		p.put("hibernate.cache.use_second_level_cache", "false");
		p.put("hibernate.cache.use_structured_entries", "false");
		p.put("hibernate.cache.use_minimal_puts", "false");
		p.put("hibernate.search.enabled", "false"); // no Lucene/Elasticsearch index
		emf.setJpaProperties(p);
		return emf;
	}

	@Bean
	@Primary
	public JpaTransactionManager transactionManager(EntityManagerFactory entityManagerFactory) {
		return new JpaTransactionManager(entityManagerFactory);
	}

	/** Binary/attachment content goes into the same database. */
	@Bean
	public IBinaryStorageSvc binaryStorageSvc() {
		return new DatabaseBinaryContentStorageSvcImpl();
	}
}
