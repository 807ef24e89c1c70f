// A bank's integrator on Apache Avro for Java, with nothing but the project's .avsc files:
//
//   java -cp <avro classpath> AvroFeedReader.java <schemas dir> <full name> < values
//
// Parses every .avsc of the dir (in an order where each reference is already defined),
// prints "fingerprint <full name> <16 hex, wire order>" for each named type (Avro's own
// SchemaNormalization.parsingFingerprint64), then reads base64 single-object encoded
// values of <full name>, one per line, with BinaryMessageDecoder (which checks the
// fingerprint) and prints "record <JSON>" per value, or "error <message>" and exits 1.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Conversions;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.data.TimeConversions;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;

public class AvroFeedReader {
  static Map<String, Schema> parseAll(Path dir) throws Exception {
    List<Path> todo = new ArrayList<>();
    try (Stream<Path> files = Files.list(dir)) {
      files.filter(p -> p.toString().endsWith(".avsc")).sorted().forEach(todo::add);
    }
    List<Path> order = new ArrayList<>();
    while (!todo.isEmpty()) {
      boolean progress = false;
      for (Iterator<Path> it = todo.iterator(); it.hasNext(); ) {
        Path next = it.next();
        Schema.Parser parser = new Schema.Parser();
        try {
          for (Path done : order) parser.parse(done.toFile());
          parser.parse(next.toFile());
        } catch (AvroRuntimeException undefinedYet) { // a reference not defined yet
          continue;
        }
        order.add(next);
        it.remove();
        progress = true;
      }
      if (!progress) throw new IllegalStateException("unresolvable schemas: " + todo);
    }
    Schema.Parser parser = new Schema.Parser();
    Map<String, Schema> named = new TreeMap<>();
    for (Path file : order) {
      Schema schema = parser.parse(file.toFile());
      named.put(schema.getFullName(), schema);
    }
    return named;
  }

  public static void main(String[] args) throws Exception {
    Map<String, Schema> named = parseAll(Path.of(args[0]));
    for (Map.Entry<String, Schema> e : named.entrySet()) {
      long fp = SchemaNormalization.parsingFingerprint64(e.getValue());
      System.out.printf("fingerprint %s %016x%n", e.getKey(), Long.reverseBytes(fp));
    }
    // Logical types as Java values (BigDecimal, Instant), as an integrator would read them.
    GenericData model = new GenericData();
    model.addLogicalTypeConversion(new Conversions.DecimalConversion());
    model.addLogicalTypeConversion(new TimeConversions.TimestampMillisConversion());
    BinaryMessageDecoder<GenericRecord> decoder =
        new BinaryMessageDecoder<>(model, named.get(args[1]));
    BufferedReader in =
        new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) continue;
      try {
        System.out.println("record " + decoder.decode(Base64.getDecoder().decode(line.strip())));
      } catch (Exception failed) {
        System.out.println("error " + failed);
        System.exit(1);
      }
    }
  }
}
