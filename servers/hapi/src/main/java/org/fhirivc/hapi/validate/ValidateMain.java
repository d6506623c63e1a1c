package org.fhirivc.hapi.validate;

import ca.uhn.fhir.context.FhirContext;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.stream.JsonWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.http.ManagedWebAccess;
import org.hl7.fhir.utilities.validation.ValidationMessage;
import org.slf4j.LoggerFactory;

/**
 * Offline HL7 validation of many FHIR JSON files in one JVM run (startup is the expensive part).
 *
 * <pre>
 * java -cp servers/hapi/target/app/fhir-ivc-hapi.jar org.fhirivc.hapi.validate.ValidateMain \
 *     --package build/fhir-packages/hl7.fhir.us.mcode-4.0.0.tgz \
 *     --check-package profiles \
 *     --out results.json  out/bundles/  more.json  stream.ndjson
 * </pre>
 *
 * <ul>
 *   <li>{@code --package PATH}: a FHIR package (.tgz or folder) to load into the chain (repeatable);
 *   <li>{@code --check-package PATH}: the same, and check the package itself: the snapshot of every
 *       StructureDefinition is generated (generator messages reported) and every conformance
 *       resource is validated as an instance (result under "packages" in the output);
 *   <li>{@code --out FILE}: where the JSON results go (default: standard output);
 *   <li>{@code --threads N}: validation threads (default: available processors);
 *   <li>{@code --min-severity error|warning|information}: the least severe issues listed (default
 *       warning; information issues, mostly slice-matching details, are large); "totals" counts all;
 *   <li>inputs: .json files (one resource or Bundle each), .ndjson/.jsonl files (one per line), and
 *       folders (searched recursively for those, in name order).
 * </ul>
 *
 * <p>Each input resource is validated as a whole, a Bundle with all its entries, so references
 * between entries resolve inside the bundle; every resource is checked against the profiles it
 * claims in meta.profile. Issues are reported per file, per resource (line for NDJSON), and for a
 * Bundle per entry (by the {@code Bundle.entry[i]} prefix of the issue's location).
 *
 * <p>Exit status: 0 no error or fatal issue, 1 some error/fatal issue, 2 the run failed (usage,
 * unreadable package). Progress and logs go to standard error.
 */
public final class ValidateMain {

	private static final Pattern ENTRY = Pattern.compile("^Bundle\\.entry\\[(\\d+)]");
	private static final int MAX_SLICE_INFO = 10;
	private static final Map<String, Integer> RANK = Map.of("fatal", 0, "error", 1, "warning", 2, "information", 3);
	/** Issues less severe than this are counted in "totals" but not listed (default: warning). */
	private static int minRank;

	private record Input(Path file, Integer line, String text) {}

	private record Outcome(Input input, JsonObject parsed, String readError, List<ValidationMessage> messages) {}

	private ValidateMain() {}

	public static void main(String[] args) {
		int code;
		try {
			code = run(args);
		} catch (UsageException e) {
			System.err.println("fhir-validate: " + e.getMessage());
			System.err.println(
					"usage: ValidateMain [--package PATH]... [--check-package PATH]... [--out FILE] [--threads N]"
							+ " [--min-severity error|warning|information] INPUT...");
			code = 2;
		} catch (Exception e) {
			System.err.println("fhir-validate: failed: " + e);
			e.printStackTrace(System.err);
			code = 2;
		}
		System.exit(code);
	}

	static final class UsageException extends Exception {
		private static final long serialVersionUID = 1L;

		UsageException(String message) {
			super(message);
		}
	}

	static int run(String[] args) throws Exception {
		long t0 = System.nanoTime();
		quietLogging();
		// Offline, guaranteed: org.hl7.fhir.core's HTTP layer refuses every request (package
		// downloads, terminology servers); no remote terminology module is in the chain either.
		ManagedWebAccess.setAccessPolicy(ManagedWebAccess.WebAccessPolicy.PROHIBITED);
		List<Path> packagePaths = new ArrayList<>();
		List<Path> checkPaths = new ArrayList<>();
		List<Path> inputs = new ArrayList<>();
		Path out = null;
		int threads = Runtime.getRuntime().availableProcessors();
		minRank = RANK.get("warning");
		for (int i = 0; i < args.length; i++) {
			String arg = args[i];
			switch (arg) {
				case "--package", "--check-package", "--out", "--threads", "--min-severity" -> {
					if (i + 1 >= args.length) {
						throw new UsageException(arg + " needs a value");
					}
					String value = args[++i];
					switch (arg) {
						case "--package" -> packagePaths.add(Path.of(value));
						case "--check-package" -> {
							packagePaths.add(Path.of(value));
							checkPaths.add(Path.of(value));
						}
						case "--out" -> out = Path.of(value);
						case "--min-severity" -> {
							if (!RANK.containsKey(value) || value.equals("fatal")) {
								throw new UsageException("--min-severity is error, warning or information, not " + value);
							}
							minRank = RANK.get(value);
						}
						default -> threads = parseThreads(value);
					}
				}
				default -> {
					if (arg.startsWith("--")) {
						throw new UsageException("unknown option " + arg);
					}
					inputs.add(Path.of(arg));
				}
			}
		}
		for (Path p : packagePaths) {
			if (!Files.exists(p)) {
				throw new UsageException("package not found: " + p);
			}
		}

		FhirContext ctx = FhirContext.forR4Cached();
		long tPackages = System.nanoTime();
		List<FhirPackages.LoadedPackage> packages = new ArrayList<>();
		for (Path p : packagePaths) {
			FhirPackages.LoadedPackage pkg = FhirPackages.load(ctx, p);
			log(String.format(
					Locale.ROOT,
					"package %s#%s from %s: %d StructureDefinitions, %d ValueSets, %d CodeSystems",
					pkg.name(),
					pkg.version(),
					p,
					pkg.count("StructureDefinition"),
					pkg.count("ValueSet"),
					pkg.count("CodeSystem")));
			packages.add(pkg);
		}
		ValidationEngine engine = new ValidationEngine(ctx, packages);
		long tReady = System.nanoTime();

		List<Input> items = new ArrayList<>();
		List<String> inputErrors = new ArrayList<>();
		for (Path input : inputs) {
			collect(input, items, inputErrors);
		}

		// The package checks run first: they also warm up the chain (base definitions, snapshots).
		JsonArray packageReports = new JsonArray();
		for (int i = 0; i < packages.size(); i++) {
			FhirPackages.LoadedPackage pkg = packages.get(i);
			boolean check = checkPaths.contains(packagePaths.get(i));
			packageReports.add(packageReport(engine, pkg, check));
		}
		long tChecked = System.nanoTime();

		log("validating " + items.size() + " resources from " + inputs.size() + " inputs with " + threads
				+ " thread(s) ...");
		List<Outcome> outcomes = validateAll(engine, items, threads);
		long tDone = System.nanoTime();

		Map<String, Integer> totals = new TreeMap<>();
		Writer writer = out == null
				? new OutputStreamWriter(System.out, StandardCharsets.UTF_8)
				: Files.newBufferedWriter(out, StandardCharsets.UTF_8);
		try (JsonWriter json = new JsonWriter(writer)) {
			json.setIndent(" ");
			json.beginObject();
			json.name("engine").beginObject();
			json.name("validator").value("HAPI FHIR FhirInstanceValidator (org.hl7.fhir.core InstanceValidator)");
			json.name("hapiFhir").value(ca.uhn.fhir.util.VersionUtil.getVersion());
			json.name("fhirCore").value(coreVersion());
			json.name("fhirVersion").value(ctx.getVersion().getVersion().getFhirVersionString());
			json.name("externalCodeSystems").beginArray();
			for (String system : ExternalCodeSystemWarnings.EXTERNAL.keySet()) {
				json.value(system);
			}
			json.endArray();
			json.endObject();
			json.name("packages");
			new com.google.gson.Gson().toJson(packageReports, json);
			json.name("inputErrors").beginArray();
			for (String e : inputErrors) {
				json.value(e);
			}
			json.endArray();
			json.name("files").beginArray();
			writeFiles(json, outcomes, totals);
			json.endArray();
			json.name("totals").beginObject();
			for (Map.Entry<String, Integer> t : totals.entrySet()) {
				json.name(t.getKey()).value(t.getValue());
			}
			json.endObject();
			json.name("timingMs").beginObject();
			json.name("startToChainReady").value(ms(t0, tReady));
			json.name("loadPackages").value(ms(tPackages, tReady));
			json.name("checkPackages").value(ms(tReady, tChecked));
			json.name("validate").value(ms(tChecked, tDone));
			json.name("resources").value(items.size());
			json.name("threads").value(threads);
			json.endObject();
			json.endObject();
			json.flush();
			writer.write("\n");
		}
		int errors = totals.getOrDefault("error", 0) + totals.getOrDefault("fatal", 0);
		log(String.format(
				Locale.ROOT,
				"%d resources: %d error/fatal, %d warning, %d information issues; chain ready in %.1f s, "
						+ "package checks %.1f s, validation %.1f s",
				items.size(),
				errors,
				totals.getOrDefault("warning", 0),
				totals.getOrDefault("information", 0),
				ms(t0, tReady) / 1000.0,
				ms(tReady, tChecked) / 1000.0,
				ms(tChecked, tDone) / 1000.0));
		return errors > 0 || !inputErrors.isEmpty() ? 1 : 0;
	}

	private static int parseThreads(String value) throws UsageException {
		try {
			int n = Integer.parseInt(value);
			if (n < 1) {
				throw new NumberFormatException();
			}
			return n;
		} catch (NumberFormatException e) {
			throw new UsageException("--threads needs a positive number, not " + value);
		}
	}

	private static long ms(long from, long to) {
		return (to - from) / 1_000_000L;
	}

	private static void log(String message) {
		System.err.println("fhir-validate: " + message);
	}

	private static String coreVersion() {
		Package p = org.hl7.fhir.validation.instance.InstanceValidator.class.getPackage();
		String v = p == null ? null : p.getImplementationVersion();
		return v == null ? "unknown" : v;
	}

	/** Logback to standard error, WARN and above (HAPI logs a lot at INFO/DEBUG). */
	private static void quietLogging() {
		if (!(LoggerFactory.getILoggerFactory() instanceof LoggerContext context)) {
			return;
		}
		context.reset();
		PatternLayoutEncoder encoder = new PatternLayoutEncoder();
		encoder.setContext(context);
		encoder.setPattern("%level %logger{0}: %msg%n");
		encoder.start();
		ConsoleAppender<ILoggingEvent> appender = new ConsoleAppender<>();
		appender.setContext(context);
		appender.setTarget("System.err");
		appender.setEncoder(encoder);
		appender.start();
		ch.qos.logback.classic.Logger root = context.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
		root.setLevel(Level.WARN);
		root.addAppender(appender);
		// "Unknown element 'author'": R5-era elements in mCODE's published JSON, parsed by HAPI
		// internals with the default lenient handler; harmless and repeated
		context.getLogger("ca.uhn.fhir.parser.LenientErrorHandler").setLevel(Level.ERROR);
	}

	// ------------------------------------------------------------------------------------- inputs

	private static void collect(Path input, List<Input> items, List<String> errors) throws IOException {
		if (Files.isDirectory(input)) {
			try (Stream<Path> files = Files.walk(input)) {
				for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile).sorted()::iterator) {
					String n = f.getFileName().toString();
					if (n.endsWith(".json") || n.endsWith(".ndjson") || n.endsWith(".jsonl")) {
						collect(f, items, errors);
					}
				}
			}
			return;
		}
		if (!Files.isRegularFile(input)) {
			errors.add(input + ": no such file");
			return;
		}
		String name = input.getFileName().toString();
		String text = Files.readString(input, StandardCharsets.UTF_8);
		if (name.endsWith(".ndjson") || name.endsWith(".jsonl")) {
			String[] lines = text.split("\n", -1);
			for (int i = 0; i < lines.length; i++) {
				if (!lines[i].isBlank()) {
					items.add(new Input(input, i + 1, lines[i]));
				}
			}
		} else {
			items.add(new Input(input, null, text));
		}
	}

	// --------------------------------------------------------------------------------- validation

	private static List<Outcome> validateAll(ValidationEngine engine, List<Input> items, int threads)
			throws Exception {
		ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
			Thread t = new Thread(r, "fhir-validate");
			t.setDaemon(true);
			return t;
		});
		try {
			List<Future<Outcome>> futures = new ArrayList<>();
			for (Input item : items) {
				futures.add(pool.submit(() -> validateOne(engine, item)));
			}
			List<Outcome> outcomes = new ArrayList<>();
			int done = 0;
			for (Future<Outcome> f : futures) {
				outcomes.add(f.get());
				if (++done % 100 == 0) {
					log(done + " / " + items.size() + " validated");
				}
			}
			return outcomes;
		} finally {
			pool.shutdownNow();
		}
	}

	private static Outcome validateOne(ValidationEngine engine, Input item) {
		JsonObject parsed;
		try {
			JsonElement element = JsonParser.parseString(item.text());
			if (!element.isJsonObject()) {
				return new Outcome(item, null, "not a JSON object", List.of());
			}
			parsed = element.getAsJsonObject();
		} catch (RuntimeException e) {
			return new Outcome(item, null, "not JSON: " + e.getMessage(), List.of());
		}
		List<ValidationMessage> messages;
		try {
			messages = engine.validate(item.text());
		} catch (RuntimeException e) {
			ValidationMessage m = new ValidationMessage();
			m.setLevel(ValidationMessage.IssueSeverity.FATAL);
			m.setType(ValidationMessage.IssueType.EXCEPTION);
			m.setLocation(parsed.has("resourceType") ? parsed.get("resourceType").getAsString() : "");
			m.setMessage("validator failed: " + e);
			messages = List.of(m);
		}
		return new Outcome(item, parsed, null, messages);
	}

	// ------------------------------------------------------------------------------------- output

	private static void writeFiles(JsonWriter json, List<Outcome> outcomes, Map<String, Integer> totals)
			throws IOException {
		Path current = null;
		for (Outcome o : outcomes) {
			if (!o.input().file().equals(current)) {
				if (current != null) {
					json.endArray().endObject();
				}
				current = o.input().file();
				json.beginObject();
				json.name("path").value(current.toString());
				json.name("resources").beginArray();
			}
			writeResource(json, o, totals);
		}
		if (current != null) {
			json.endArray().endObject();
		}
	}

	private static void writeResource(JsonWriter json, Outcome o, Map<String, Integer> totals) throws IOException {
		json.beginObject();
		if (o.input().line() != null) {
			json.name("line").value(o.input().line());
		}
		if (o.readError() != null) {
			json.name("readError").value(o.readError());
			totals.merge("fatal", 1, Integer::sum);
			json.name("issues").beginArray();
			json.beginObject();
			json.name("severity").value("fatal");
			json.name("code").value("structure");
			json.name("location").value("");
			json.name("message").value(o.readError());
			json.endObject();
			json.endArray();
			json.endObject();
			return;
		}
		JsonObject resource = o.parsed();
		describe(json, resource);
		// issues -> entry index (or -1: the resource itself)
		Map<Integer, List<ValidationMessage>> byEntry = new TreeMap<>();
		for (ValidationMessage m : o.messages()) {
			int entry = -1;
			String location = m.getLocation();
			if (location != null) {
				Matcher matcher = ENTRY.matcher(location);
				if (matcher.find()) {
					entry = Integer.parseInt(matcher.group(1));
				}
			}
			byEntry.computeIfAbsent(entry, k -> new ArrayList<>()).add(m);
			totals.merge(severity(m), 1, Integer::sum);
		}
		json.name("issues").beginArray();
		for (ValidationMessage m : byEntry.getOrDefault(-1, List.of())) {
			writeIssue(json, m);
		}
		json.endArray();
		JsonArray entries = resource.has("entry") && resource.get("entry").isJsonArray()
				? resource.getAsJsonArray("entry")
				: new JsonArray();
		if ("Bundle".equals(string(resource, "resourceType"))) {
			json.name("entries").beginArray();
			int lastWithIssues = byEntry.keySet().stream().mapToInt(Integer::intValue).max().orElse(-1);
			int n = Math.max(entries.size(), lastWithIssues + 1);
			for (int i = 0; i < n; i++) {
				json.beginObject();
				json.name("index").value(i);
				if (i < entries.size() && entries.get(i).isJsonObject()) {
					JsonObject entry = entries.get(i).getAsJsonObject();
					if (entry.has("fullUrl")) {
						json.name("fullUrl").value(string(entry, "fullUrl"));
					}
					if (entry.has("resource") && entry.get("resource").isJsonObject()) {
						describe(json, entry.getAsJsonObject("resource"));
					}
				}
				json.name("issues").beginArray();
				for (ValidationMessage m : byEntry.getOrDefault(i, List.of())) {
					writeIssue(json, m);
				}
				json.endArray();
				json.endObject();
			}
			json.endArray();
		}
		json.endObject();
	}

	private static void describe(JsonWriter json, JsonObject resource) throws IOException {
		json.name("resourceType").value(string(resource, "resourceType"));
		if (resource.has("id")) {
			json.name("id").value(string(resource, "id"));
		}
		json.name("profiles").beginArray();
		if (resource.has("meta") && resource.get("meta").isJsonObject()) {
			JsonObject meta = resource.getAsJsonObject("meta");
			if (meta.has("profile") && meta.get("profile").isJsonArray()) {
				for (JsonElement p : meta.getAsJsonArray("profile")) {
					json.value(p.isJsonPrimitive() ? p.getAsString() : p.toString());
				}
			}
		}
		json.endArray();
	}

	private static String string(JsonObject o, String name) {
		JsonElement e = o.get(name);
		return e == null || e.isJsonNull() ? "" : e.isJsonPrimitive() ? e.getAsString() : e.toString();
	}

	static String severity(ValidationMessage m) {
		return m.getLevel() == null ? "error" : m.getLevel().toCode();
	}

	private static void writeIssue(JsonWriter json, ValidationMessage m) throws IOException {
		if (RANK.getOrDefault(severity(m), 1) > minRank) {
			return;
		}
		json.beginObject();
		json.name("severity").value(severity(m));
		json.name("code").value(m.getType() == null ? "processing" : m.getType().toCode());
		json.name("location").value(m.getLocation() == null ? "" : m.getLocation());
		if (m.getLine() > 0) {
			json.name("line").value(m.getLine());
			json.name("col").value(m.getCol());
		}
		json.name("message").value(m.getMessage() == null ? "" : m.getMessage());
		if (m.getMessageId() != null) {
			json.name("messageId").value(m.getMessageId());
		}
		if (m.getInvId() != null) {
			json.name("invariant").value(m.getInvId());
		}
		List<ValidationMessage> slices = m.getSliceInfo();
		if (slices != null && !slices.isEmpty()) {
			json.name("sliceInfo").beginArray();
			for (ValidationMessage s : slices.subList(0, Math.min(slices.size(), MAX_SLICE_INFO))) {
				json.value(severity(s) + " @ " + s.getLocation() + ": " + s.getMessage());
			}
			json.endArray();
		}
		json.endObject();
	}

	// ------------------------------------------------------------------------------ package check

	private static JsonObject packageReport(ValidationEngine engine, FhirPackages.LoadedPackage pkg, boolean check) {
		JsonObject report = new JsonObject();
		report.addProperty("name", pkg.name());
		report.addProperty("version", pkg.version());
		report.addProperty("source", pkg.source());
		if (!pkg.sha256().isEmpty()) {
			report.addProperty("sha256", pkg.sha256());
		}
		for (String type : FhirPackages.CONFORMANCE_TYPES.stream().sorted().toList()) {
			JsonArray urls = new JsonArray();
			FhirPackages.urls(pkg, type).forEach(urls::add);
			report.add(type, urls);
		}
		report.addProperty("checked", check);
		if (!check) {
			return report;
		}
		log("checking package " + pkg.name() + " ...");
		JsonArray snapshots = new JsonArray();
		for (Map.Entry<String, IBaseResource> sd : pkg.resources()
				.getOrDefault("StructureDefinition", Map.of())
				.entrySet()) {
			int[] elements = {0};
			List<ValidationMessage> messages = engine.generateSnapshot(sd.getValue(), elements);
			JsonObject s = new JsonObject();
			s.addProperty("url", sd.getKey());
			s.addProperty("elements", elements[0]);
			s.add("issues", issues(messages));
			snapshots.add(s);
		}
		report.add("snapshots", snapshots);
		JsonArray instances = new JsonArray();
		for (Map.Entry<String, Map<String, IBaseResource>> ofType : pkg.resources().entrySet()) {
			if (ofType.getKey().equals("StructureDefinition")) {
				// Not as instances: the core's StructureDefinition checks load other FHIR versions'
				// core packages from the network for extension contexts. Snapshots (above) check them.
				continue;
			}
			for (Map.Entry<String, IBaseResource> r : ofType.getValue().entrySet()) {
				String text = engine.ctx.newJsonParser().encodeResourceToString(r.getValue());
				JsonObject s = new JsonObject();
				s.addProperty("resourceType", ofType.getKey());
				s.addProperty("url", r.getKey());
				s.add("issues", issues(engine.validate(text)));
				instances.add(s);
			}
		}
		report.add("instances", instances);
		return report;
	}

	private static JsonArray issues(List<ValidationMessage> messages) {
		JsonArray out = new JsonArray();
		for (ValidationMessage m : messages) {
			JsonObject i = new JsonObject();
			i.addProperty("severity", severity(m));
			i.addProperty("code", m.getType() == null ? "processing" : m.getType().toCode());
			i.addProperty("location", m.getLocation() == null ? "" : m.getLocation());
			i.addProperty("message", m.getMessage() == null ? "" : m.getMessage());
			if (m.getMessageId() != null) {
				i.addProperty("messageId", m.getMessageId());
			}
			out.add(i);
		}
		return out;
	}
}
