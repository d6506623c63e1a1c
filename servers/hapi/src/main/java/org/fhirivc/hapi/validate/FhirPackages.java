package org.fhirivc.hapi.validate;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.parser.IParser;
import ca.uhn.fhir.parser.LenientErrorHandler;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.npm.NpmPackage;

/**
 * Loads a FHIR NPM package into a {@link PrePopulatedValidationSupport}: either the tarball
 * ({@code .tgz}, entries under {@code package/}, the form of the npm registry and of
 * {@code scripts/build_profiles.py --tgz}) or an unpacked folder ({@code profiles/}, or a folder
 * with StructureDefinition/ and ValueSet/ subfolders such as tests/data/mcode-4.0.0).
 *
 * <p>Only conformance resources the validator needs are loaded: StructureDefinition, CodeSystem,
 * ValueSet. Examples ({@code example/}, {@code examples/}) and everything else are skipped. This is
 * what HAPI's {@code NpmPackageValidationSupport} does, but from a file path instead of the classpath.
 */
final class FhirPackages {

	static final Set<String> CONFORMANCE_TYPES = Set.of("StructureDefinition", "CodeSystem", "ValueSet");
	private static final Set<String> SKIPPED_FOLDERS = Set.of("example", "examples", "other", "openapi", "xml");

	/** What one package contributed to the chain. */
	record LoadedPackage(
			String name,
			String version,
			String source,
			String sha256,
			PrePopulatedValidationSupport support,
			/* canonical url -> resource, in file order, one map per type */
			Map<String, Map<String, IBaseResource>> resources) {

		int count(String type) {
			return resources.getOrDefault(type, Map.of()).size();
		}
	}

	private FhirPackages() {}

	static LoadedPackage load(FhirContext ctx, Path path) throws IOException {
		if (Files.isDirectory(path)) {
			return loadFolder(ctx, path);
		}
		String name = path.getFileName().toString();
		if (name.endsWith(".tgz") || name.endsWith(".tar.gz")) {
			return loadTarball(ctx, path);
		}
		throw new IOException("not a FHIR package (.tgz or folder): " + path);
	}

	private static LoadedPackage loadTarball(FhirContext ctx, Path path) throws IOException {
		byte[] bytes = Files.readAllBytes(path);
		NpmPackage npm;
		try (InputStream in = new java.io.ByteArrayInputStream(bytes)) {
			npm = NpmPackage.fromPackage(in);
		}
		Map<String, String> texts = new TreeMap<>();
		for (String file : npm.list("package")) {
			if (!file.endsWith(".json") || file.equals("package.json") || file.startsWith(".")) {
				continue;
			}
			try (InputStream in = npm.load("package", file)) {
				texts.put("package/" + file, new String(in.readAllBytes(), StandardCharsets.UTF_8));
			}
		}
		return build(ctx, npm.name(), npm.version(), path, sha256(bytes), texts);
	}

	private static LoadedPackage loadFolder(FhirContext ctx, Path dir) throws IOException {
		String name = dir.getFileName().toString();
		String version = "";
		Path manifest = dir.resolve("package.json");
		if (Files.isRegularFile(manifest)) {
			JsonObject json = JsonParser.parseString(Files.readString(manifest)).getAsJsonObject();
			name = json.has("name") ? json.get("name").getAsString() : name;
			version = json.has("version") ? json.get("version").getAsString() : "";
		}
		Map<String, String> texts = new TreeMap<>();
		try (Stream<Path> files = Files.walk(dir)) {
			for (Path file : (Iterable<Path>) files.sorted()::iterator) {
				Path rel = dir.relativize(file);
				String fileName = file.getFileName().toString();
				if (!Files.isRegularFile(file)
						|| !fileName.endsWith(".json")
						|| fileName.equals("package.json")
						|| fileName.startsWith(".")
						|| inSkippedFolder(rel)) {
					continue;
				}
				texts.put(rel.toString(), Files.readString(file));
			}
		}
		return build(ctx, name, version, dir, "", texts);
	}

	private static boolean inSkippedFolder(Path rel) {
		for (int i = 0; i < rel.getNameCount() - 1; i++) {
			if (SKIPPED_FOLDERS.contains(rel.getName(i).toString())) {
				return true;
			}
		}
		return false;
	}

	private static LoadedPackage build(
			FhirContext ctx, String name, String version, Path source, String sha256, Map<String, String> texts)
			throws IOException {
		// lenient and quiet: mCODE's published JSON carries a few R5-era elements (e.g. "author")
		// that R4 does not define; they do not matter to validation
		IParser parser = ctx.newJsonParser().setParserErrorHandler(new LenientErrorHandler(false));
		PrePopulatedValidationSupport support = new PrePopulatedValidationSupport(ctx);
		Map<String, Map<String, IBaseResource>> byType = new LinkedHashMap<>();
		for (Map.Entry<String, String> file : texts.entrySet()) {
			JsonObject json;
			try {
				json = JsonParser.parseString(file.getValue()).getAsJsonObject();
			} catch (RuntimeException e) {
				throw new IOException(source + ": " + file.getKey() + " is not a JSON object: " + e.getMessage(), e);
			}
			String type = json.has("resourceType") ? json.get("resourceType").getAsString() : "";
			if (!CONFORMANCE_TYPES.contains(type)) {
				continue;
			}
			IBaseResource resource;
			try {
				resource = parser.parseResource(file.getValue());
			} catch (RuntimeException e) {
				throw new IOException(source + ": cannot parse " + file.getKey() + ": " + e.getMessage(), e);
			}
			String url = json.has("url") ? json.get("url").getAsString() : "";
			if (url.isEmpty()) {
				throw new IOException(source + ": " + file.getKey() + " has no canonical url");
			}
			Map<String, IBaseResource> ofType = byType.computeIfAbsent(type, t -> new LinkedHashMap<>());
			if (ofType.put(url, resource) != null) {
				throw new IOException(source + ": two " + type + " resources with url " + url);
			}
			support.addResource(resource);
		}
		return new LoadedPackage(name, version, source.toString(), sha256, support, byType);
	}

	static String sha256(byte[] bytes) {
		try {
			return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
		} catch (NoSuchAlgorithmException e) {
			throw new IllegalStateException(e);
		}
	}

	static List<String> urls(LoadedPackage pkg, String type) {
		return new ArrayList<>(pkg.resources().getOrDefault(type, Map.of()).keySet());
	}
}
