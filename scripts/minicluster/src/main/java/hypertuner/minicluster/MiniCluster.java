package hypertuner.minicluster;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Field;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ScheduledThreadPoolExecutor;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.metrics2.lib.DefaultMetricsSystem;
import org.apache.hadoop.minikdc.MiniKdc;
import org.apache.hadoop.security.UserGroupInformation;
import org.apache.hadoop.service.CompositeService;
import org.apache.hadoop.service.Service;
import org.apache.hadoop.yarn.conf.YarnConfiguration;
import org.apache.hadoop.yarn.server.nodemanager.NodeManager;
import org.apache.hadoop.yarn.server.resourcemanager.ResourceManager;

/**
 * A real HDFS + YARN cluster in one JVM, every port on 127.0.0.1, for tests and hand trials.
 *
 * <p>HDFS is a {@link MiniDFSCluster} (a NameNode with WebHDFS and one DataNode). YARN is one
 * {@link ResourceManager} and one {@link NodeManager}, run as plain services rather than through
 * MiniYARNCluster: MiniYARNCluster (3.4.x) forces the NodeManager onto {@code <hostname>:0}, and
 * here every address must be 127.0.0.1 on a port the caller chose. The NodeManager talks to the
 * ResourceManager over real RPC, so the ResourceManager can be stopped and started again on the
 * same ports while HDFS and the NodeManager keep running; the NodeManager then registers again.
 *
 * <p>Arguments are {@code --name value} pairs (see {@link #USAGE}). Protocol on stdout, one line
 * each: {@code READY {json}} once HDFS and YARN answer, {@code OK <command>} or
 * {@code ERR <command> <message>} for each command read from stdin ({@code stop-rm},
 * {@code start-rm}, {@code stop-nn}, {@code start-nn}, {@code status}, {@code stop}). End of
 * stdin means {@code stop}. The NameNode, like the ResourceManager, can be stopped and started
 * again on the same ports (its name folders kept) while the DataNode waits for it. Everything
 * else (Hadoop's logs) goes to the log file, never to stdout.
 *
 * <p>{@code --kerberos true} starts a Kerberized cluster instead: see {@link #startKdc()} for the
 * KDC, the principals and keytabs, and {@link #secure(Configuration)} for the Hadoop settings it
 * needed (and why). The default (open) mode is unchanged by that option's existence.
 */
public final class MiniCluster {

  static final String HOST = "127.0.0.1";

  static final String USAGE = "usage: MiniCluster --work-dir DIR --conf-dir DIR"
      + " --nn-port P --nn-http-port P --dn-port P --dn-http-port P --dn-ipc-port P"
      + " --rm-port P --rm-scheduler-port P --rm-tracker-port P --rm-admin-port P"
      + " --rm-webapp-port P --nm-port P --nm-localizer-port P --nm-webapp-port P"
      + " [--nm-memory-mb 8192] [--nm-vcores 8] [--rm-recovery true|false]"
      + " [--kerberos true|false] [--kerberos-user NAME] [--set key=value ...]";

  /** The realm MiniKdc serves (its ORG_NAME.ORG_DOMAIN). */
  static final String REALM = "EXAMPLE.COM";

  private final Map<String, String> opts;
  private final List<String[]> extra;
  private final PrintStream proto;
  private final File workDir;
  private final File confDir;

  private MiniDFSCluster dfs;
  private boolean nameNodeUp = true;
  private YarnConfiguration yarnConf;
  private volatile ResourceManager rm;
  private volatile NodeManager nm;
  private boolean shutDown;

  // Kerberized mode only (null otherwise).
  private final boolean kerberos;
  private MiniKdc kdc;
  private String servicePrincipal;
  private File serviceKeytab;
  private String userPrincipal;
  private File userKeytab;
  private File clientKrb5Conf;

  private MiniCluster(Map<String, String> opts, List<String[]> extra, PrintStream proto) {
    this.opts = opts;
    this.extra = extra;
    this.proto = proto;
    this.workDir = new File(required("work-dir")).getAbsoluteFile();
    this.confDir = new File(required("conf-dir")).getAbsoluteFile();
    this.kerberos = Boolean.parseBoolean(opts.getOrDefault("kerberos", "false"));
  }

  public static void main(String[] args) throws Exception {
    // stdout is the protocol channel: keep anything else that prints off it.
    PrintStream proto = new PrintStream(new FileOutputStream(java.io.FileDescriptor.out), true,
        StandardCharsets.UTF_8);
    System.setOut(System.err);

    Map<String, String> opts = new LinkedHashMap<>();
    List<String[]> extra = new ArrayList<>();
    try {
      parseArgs(args, opts, extra);
      for (String name : new String[] {"work-dir", "conf-dir"}) {
        if (!opts.containsKey(name)) {
          throw new IllegalArgumentException("missing --" + name);
        }
      }
    } catch (IllegalArgumentException e) {
      proto.println("ERR start " + e.getMessage() + "; " + USAGE);
      System.exit(2);
    }
    // Before the first logger: our log4j file, not the test jars' log4j.properties (to stdout).
    if (System.getProperty("minicluster.log.file") == null) {
      System.setProperty("minicluster.log.file",
          new File(opts.getOrDefault("work-dir", "."), "logs/minicluster.log").getAbsolutePath());
    }
    if (System.getProperty("log4j.configuration") == null) {
      System.setProperty("log4j.configuration", "hypertuner-minicluster-log4j.properties");
    }

    MiniCluster cluster = new MiniCluster(opts, extra, proto);
    Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown, "minicluster-shutdown"));
    try {
      cluster.start();
    } catch (Throwable t) {
      t.printStackTrace();
      proto.println("ERR start " + oneLine(t));
      cluster.shutdown();
      System.exit(1);
    }
    proto.println("READY " + cluster.describe());
    cluster.serve(new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)));
    cluster.shutdown();
    proto.println("OK stop");
    System.exit(0);
  }

  static void parseArgs(String[] args, Map<String, String> opts, List<String[]> extra) {
    for (int i = 0; i < args.length; i += 2) {
      if (!args[i].startsWith("--") || i + 1 >= args.length) {
        throw new IllegalArgumentException("bad argument '" + args[i] + "'");
      }
      String name = args[i].substring(2);
      String value = args[i + 1];
      if (name.equals("set")) {
        int eq = value.indexOf('=');
        if (eq <= 0) {
          throw new IllegalArgumentException("--set wants key=value, got '" + value + "'");
        }
        extra.add(new String[] {value.substring(0, eq), value.substring(eq + 1)});
      } else {
        opts.put(name, value);
      }
    }
  }

  private String required(String name) {
    String value = opts.get(name);
    if (value == null) {
      throw new IllegalArgumentException("missing --" + name);
    }
    return value;
  }

  private String addr(String portOption) {
    return HOST + ":" + Integer.parseInt(required(portOption));
  }

  // ---------------------------------------------------------------- start

  void start() throws Exception {
    DefaultMetricsSystem.setMiniClusterMode(true);
    Files.createDirectories(confDir.toPath());
    if (kerberos) {
      startKdc();
    }
    startHdfs();
    yarnConf = yarnConfiguration();
    startResourceManager();
    startNodeManager();
    waitForNodes(1, 120_000);
    writeClientConf();
  }

  private Configuration baseConfiguration() {
    Configuration conf = new Configuration();
    conf.set("hadoop.tmp.dir", new File(workDir, "tmp").getAbsolutePath());
    conf.set("hadoop.security.authentication", "simple");
    if (kerberos) {
      secure(conf);
    }
    return conf;
  }

  // ---------------------------------------------------------------- Kerberos

  /**
   * MiniKdc (Apache Kerby) on 127.0.0.1, TCP, a free port, realm EXAMPLE.COM; then the principals
   * and keytabs:
   *
   * <ul>
   *   <li>ONE service principal {@code hdfs/localhost} for the NameNode, the DataNode, the
   *       ResourceManager and the NodeManager. Every daemon's secure login
   *       ({@code UserGroupInformation.loginUserFromKeytab}) replaces the JVM-wide login user, and
   *       an RPC server presents the current login user as its principal in the SASL negotiation:
   *       with separate rm/nm principals the NameNode would start presenting itself as rm/... once
   *       the ResourceManager logged in, and HDFS clients (expecting hdfs/...) would refuse it. In
   *       one JVM the daemons must share a principal (Hadoop's own SaslDataTransferTestCase and
   *       MiniKdc-based YARN tests do the same). No _HOST in it: clients reach the daemons as
   *       127.0.0.1, and _HOST would become whatever 127.0.0.1 reverse-resolves to.</li>
   *   <li>{@code HTTP/localhost} and {@code HTTP/127.0.0.1} for SPNEGO, in the same keytab (the
   *       NameNode's HTTP server logs in with dfs.namenode.keytab.file). Clients derive the SPNEGO
   *       service principal from the URL's host (HTTP/127.0.0.1 for every URL this cluster hands
   *       out); the servers use principal "*", which accepts every HTTP/ entry of the keytab.</li>
   *   <li>{@code <user>@EXAMPLE.COM} (user = --kerberos-user, else the login user) with a keytab of
   *       its own: the test user. auth_to_local maps it to {@code <user>}.</li>
   * </ul>
   *
   * <p>MiniKdc writes a krb5.conf for this JVM and points java.security.krb5.conf at it (it needs
   * java.security.jgss/sun.security.krb5 exported to refresh the JDK's Kerberos config). For
   * clients (MIT kinit, gssapi/requests-kerberos, spark-submit's JVM) conf/krb5.conf is written:
   * kdc = 127.0.0.1:port, TCP only (Kerby listens on TCP only, and MIT tries UDP first unless
   * udp_preference_limit = 1), no DNS and no reverse DNS (so HTTP@127.0.0.1 stays HTTP/127.0.0.1).
   */
  private void startKdc() throws Exception {
    File kdcDir = new File(workDir, "kdc");
    FileUtil.fullyDelete(kdcDir);
    Files.createDirectories(kdcDir.toPath());
    Properties kdcConf = MiniKdc.createConf();
    kdcConf.setProperty(MiniKdc.KDC_BIND_ADDRESS, HOST);
    kdcConf.setProperty(MiniKdc.ORG_NAME, "EXAMPLE");
    kdcConf.setProperty(MiniKdc.ORG_DOMAIN, "COM");
    kdc = new MiniKdc(kdcConf, kdcDir);
    kdc.start();
    if (!REALM.equals(kdc.getRealm())) {
      throw new IllegalStateException("MiniKdc serves realm " + kdc.getRealm() + ", expected " + REALM);
    }
    serviceKeytab = new File(kdcDir, "service.keytab");
    kdc.createPrincipal(serviceKeytab, "hdfs/localhost", "HTTP/localhost", "HTTP/" + HOST);
    servicePrincipal = "hdfs/localhost@" + REALM;
    String user = opts.getOrDefault("kerberos-user", System.getProperty("user.name"));
    userKeytab = new File(kdcDir, user + ".keytab");
    kdc.createPrincipal(userKeytab, user);
    userPrincipal = user + "@" + REALM;
    clientKrb5Conf = new File(confDir, "krb5.conf");
    String krb5 = "[libdefaults]\n"
        + "  default_realm = " + REALM + "\n"
        + "  udp_preference_limit = 1\n"
        + "  dns_lookup_kdc = false\n"
        + "  dns_lookup_realm = false\n"
        + "  dns_canonicalize_hostname = false\n"
        + "  rdns = false\n"
        + "  forwardable = true\n"
        + "  ticket_lifetime = 24h\n"
        + "  renew_lifetime = 7d\n"
        + "\n[realms]\n"
        + "  " + REALM + " = {\n"
        + "    kdc = " + HOST + ":" + kdc.getPort() + "\n"
        + "  }\n"
        + "\n[domain_realm]\n"
        + "  localhost = " + REALM + "\n"
        + "  " + HOST + " = " + REALM + "\n";
    Files.write(clientKrb5Conf.toPath(), krb5.getBytes(StandardCharsets.UTF_8));
  }

  /** Maps {@code x@EXAMPLE.COM} and {@code x/host@EXAMPLE.COM} to {@code x}. */
  static final String AUTH_TO_LOCAL = "RULE:[1:$1@$0](.*@" + REALM.replace(".", "\\.") + ")s/@.*//\n"
      + "RULE:[2:$1@$0](.*@" + REALM.replace(".", "\\.") + ")s/@.*//\n"
      + "DEFAULT";

  /**
   * The Kerberos settings every daemon of this JVM shares (HDFS and YARN confs both start here:
   * the ResourceManager renews HDFS delegation tokens and the NodeManager localizes from HDFS, so
   * they need the HDFS principals too).
   */
  private void secure(Configuration conf) {
    String keytab = serviceKeytab.getAbsolutePath();
    conf.set("hadoop.security.authentication", "kerberos");
    conf.set("hadoop.security.auth_to_local", AUTH_TO_LOCAL);
    // HDFS RPC: the shared service principal (see startKdc).
    conf.set("dfs.namenode.kerberos.principal", servicePrincipal);
    conf.set("dfs.namenode.keytab.file", keytab);
    conf.set("dfs.datanode.kerberos.principal", servicePrincipal);
    conf.set("dfs.datanode.keytab.file", keytab);
    // Required: a secure DataNode refuses to start without block access tokens.
    conf.setBoolean("dfs.block.access.token.enable", true);
    // No SASL on data transfer (dfs.data.transfer.protection unset), plain unprivileged DataNode
    // ports: ignore.secure.ports.for.testing lets a secure DataNode start so (DataNode.
    // checkSecureConfig) and accept clients without the SASL handshake; block access tokens
    // still guard every block. Surprise: with dfs.data.transfer.protection=authentication
    // (what Hadoop's SaslDataTransferTestCase uses) HDFS RPC, WebHDFS and spark-submit's uploads
    // worked, but the NodeManager's in-process ContainerLocalizer (DefaultContainerExecutor, a
    // `new YarnConfiguration()` of its own) skipped the handshake and the DataNode reset it:
    // every container failed to localize with BlockMissingException. Putting the settings on
    // the JVM's classpath (core-site/hdfs-site) did not change that; not understood yet.
    conf.setBoolean("ignore.secure.ports.for.testing", true);
    conf.set("dfs.http.policy", "HTTP_ONLY");
    // WebHDFS behind SPNEGO; "*" = every HTTP/ principal of the keytab (see startKdc). The
    // NameNode's internal SPNEGO principal defaults to this one.
    conf.set("dfs.web.authentication.kerberos.principal", "*");
    conf.set("dfs.web.authentication.kerberos.keytab", keytab);
    // Surprise: since Hadoop 3.2.1 (HADOOP-16314) the NameNode replaces the filter initializers
    // with its AuthFilterInitializer, which follows hadoop.http.authentication.type: with the
    // default "simple" WebHDFS answers every request 403 "Security enabled but user not
    // authenticated by filter", ticket or not. So the HTTP servers' global authentication is
    // Kerberos too (the ResourceManager's REST API reads the same keys, see secureYarnWeb).
    conf.set("hadoop.http.authentication.type", "kerberos");
    conf.set("hadoop.http.authentication.kerberos.principal", "*");
    conf.set("hadoop.http.authentication.kerberos.keytab", keytab);
    conf.setBoolean("hadoop.http.authentication.simple.anonymous.allowed", false);
    // YARN: the same service principal (see startKdc).
    conf.set("yarn.resourcemanager.principal", servicePrincipal);
    conf.set("yarn.resourcemanager.keytab", keytab);
    conf.set("yarn.nodemanager.principal", servicePrincipal);
    conf.set("yarn.nodemanager.keytab", keytab);
    // The web apps' own SPNEGO filter (internal servlets) logs in at start: without a principal
    // and keytab it fails the ResourceManager's web app.
    conf.set("yarn.resourcemanager.webapp.spnego-principal", "*");
    conf.set("yarn.resourcemanager.webapp.spnego-keytab-file", keytab);
    conf.set("yarn.nodemanager.webapp.spnego-principal", "*");
    conf.set("yarn.nodemanager.webapp.spnego-keytab-file", keytab);
  }

  /**
   * The ResourceManager's REST API behind SPNEGO: Hadoop's AuthenticationFilterInitializer with
   * type kerberos, which the ResourceManager swaps for its RMAuthenticationFilterInitializer
   * (Kerberos or an RM delegation token); the hadoop.http.authentication.* keys come from
   * {@link #secure}. Set on the YARN configuration only: the initializer applies to every
   * HttpServer2 built from a configuration that carries it (the DataNode's web UI too).
   */
  private void secureYarnWeb(Configuration conf) {
    conf.set("hadoop.http.filter.initializers", "org.apache.hadoop.security.AuthenticationFilterInitializer");
  }

  private void startHdfs() throws IOException {
    Configuration conf = baseConfiguration();
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setBoolean("dfs.permissions.enabled", false);
    conf.setInt("dfs.replication", 1);
    conf.set("dfs.blocksize", "16m");
    conf.setBoolean("dfs.namenode.datanode.registration.ip-hostname-check", false);
    conf.set("dfs.datanode.address", addr("dn-port"));
    conf.set("dfs.datanode.http.address", addr("dn-http-port"));
    conf.set("dfs.datanode.ipc.address", addr("dn-ipc-port"));
    conf.set("dfs.datanode.hostname", HOST);
    conf.setInt("dfs.namenode.safemode.extension", 0);
    applyExtra(conf);

    // A fresh HDFS at every start: MiniDFSCluster's shutdown leaves its name folders unusable
    // for a restart, and applications of an earlier run are gone from YARN anyway.
    File hdfsDir = new File(workDir, "hdfs");
    dfs = new MiniDFSCluster.Builder(conf, hdfsDir)
        .nameNodePort(Integer.parseInt(required("nn-port")))
        .nameNodeHttpPort(Integer.parseInt(required("nn-http-port")))
        .numDataNodes(1)
        .checkDataNodeAddrConfig(true)
        .format(true)
        .build();
    dfs.waitActive();
    dfs.getFileSystem().mkdirs(new org.apache.hadoop.fs.Path("/tmp"));
  }

  private YarnConfiguration yarnConfiguration() throws IOException {
    YarnConfiguration conf = new YarnConfiguration(baseConfiguration());
    conf.set("fs.defaultFS", hdfsUrl());
    // ResourceManager: every address on 127.0.0.1, on the caller's ports.
    conf.set("yarn.resourcemanager.hostname", HOST);
    conf.set("yarn.resourcemanager.address", addr("rm-port"));
    conf.set("yarn.resourcemanager.scheduler.address", addr("rm-scheduler-port"));
    conf.set("yarn.resourcemanager.resource-tracker.address", addr("rm-tracker-port"));
    conf.set("yarn.resourcemanager.admin.address", addr("rm-admin-port"));
    conf.set("yarn.resourcemanager.webapp.address", addr("rm-webapp-port"));
    // NodeManager: same.
    conf.set("yarn.nodemanager.hostname", HOST);
    conf.set("yarn.nodemanager.address", addr("nm-port"));
    conf.set("yarn.nodemanager.localizer.address", addr("nm-localizer-port"));
    conf.set("yarn.nodemanager.webapp.address", addr("nm-webapp-port"));
    File yarnDir = new File(workDir, "yarn");
    conf.set("yarn.nodemanager.local-dirs", mkdirs(new File(yarnDir, "nm-local")));
    conf.set("yarn.nodemanager.log-dirs", mkdirs(new File(yarnDir, "nm-logs")));
    conf.set("yarn.nodemanager.remote-app-log-dir", new File(yarnDir, "remote-logs").getAbsolutePath());
    // Room for a Spark driver (AM) and a few executors.
    int memory = Integer.parseInt(opts.getOrDefault("nm-memory-mb", "8192"));
    int vcores = Integer.parseInt(opts.getOrDefault("nm-vcores", "8"));
    conf.setInt("yarn.nodemanager.resource.memory-mb", memory);
    conf.setInt("yarn.nodemanager.resource.cpu-vcores", vcores);
    conf.setBoolean("yarn.nodemanager.resource.detect-hardware-capabilities", false);
    conf.setInt("yarn.scheduler.minimum-allocation-mb", 256);
    conf.setInt("yarn.scheduler.maximum-allocation-mb", memory);
    conf.setInt("yarn.scheduler.maximum-allocation-vcores", vcores);
    // One queue, as in Spark's own YARN test suites.
    conf.set("yarn.scheduler.capacity.root.queues", "default");
    conf.set("yarn.scheduler.capacity.root.default.capacity", "100");
    conf.set("yarn.scheduler.capacity.root.default.maximum-capacity", "100");
    conf.set("yarn.scheduler.capacity.root.default.acl_submit_applications", "*");
    conf.set("yarn.scheduler.capacity.root.default.acl_administer_queue", "*");
    conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
    // A developer's disk may be full-ish and containers are small: no disk or memory policing.
    conf.setFloat("yarn.nodemanager.disk-health-checker.max-disk-utilization-per-disk-percentage", 100.0f);
    conf.setBoolean("yarn.nodemanager.vmem-check-enabled", false);
    conf.setBoolean("yarn.nodemanager.pmem-check-enabled", false);
    // The NodeManager outlives ResourceManager restarts: retry every second, forever.
    conf.setLong("yarn.nodemanager.resourcemanager.connect.max-wait.ms", -1);
    conf.setLong("yarn.nodemanager.resourcemanager.connect.retry-interval.ms", 1000);
    conf.setLong("yarn.resourcemanager.nodemanagers.heartbeat-interval-ms", 500);
    // Keep finished containers' folders a while for post-mortems.
    conf.setInt("yarn.nodemanager.delete.debug-delay-sec", 600);
    // A NodeManager stop waits sleep-delay + kill-wait + 1 s for applications whose logs are
    // kept (all of them, without log aggregation): 3.25 s instead of 6.25 s.
    conf.setLong("yarn.nodemanager.process-kill-wait.ms", 2000);
    if (Boolean.parseBoolean(opts.getOrDefault("rm-recovery", "true"))) {
      // Applications survive stop-rm/start-rm, as on a production cluster (state on local disk).
      File store = new File(yarnDir, "rm-state");
      FileUtil.fullyDelete(store); // never recover applications of an earlier JVM
      conf.setBoolean("yarn.resourcemanager.recovery.enabled", true);
      conf.set("yarn.resourcemanager.store.class",
          "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore");
      conf.set("yarn.resourcemanager.fs.state-store.uri", store.toURI().toString());
      conf.setBoolean("yarn.resourcemanager.work-preserving-recovery.enabled", true);
      conf.setLong("yarn.resourcemanager.work-preserving-recovery.scheduling-wait-ms", 2000);
    }
    if (kerberos) {
      secureYarnWeb(conf);
      UserGroupInformation.setConfiguration(conf);
    }
    applyExtra(conf);
    return conf;
  }

  private void applyExtra(Configuration conf) {
    for (String[] kv : extra) {
      conf.set(kv[0], kv[1]);
    }
  }

  private static String mkdirs(File dir) throws IOException {
    Files.createDirectories(dir.toPath());
    return dir.getAbsolutePath();
  }

  private synchronized void startResourceManager() {
    ResourceManager fresh = new ResourceManager();
    fresh.init(new YarnConfiguration(yarnConf));
    fresh.start();
    rm = fresh;
  }

  private synchronized void stopResourceManager() {
    ResourceManager current = rm;
    rm = null;
    if (current != null) {
      current.stop();
    }
  }

  private synchronized void stopNameNode() {
    if (nameNodeUp) {
      dfs.shutdownNameNode(0);
      nameNodeUp = false;
    }
  }

  /** The NameNode again, same ports and name folders; returns once the DataNode has reported
   * and the NameNode has left safe mode (so writes work at once). */
  private synchronized void startNameNode() throws Exception {
    if (!nameNodeUp) {
      dfs.restartNameNode(0, true);
      nameNodeUp = true;
    }
    dfs.waitActive();
    dfs.waitFirstBRCompleted(0, 60_000);
    dfs.getFileSystem().setSafeMode(org.apache.hadoop.hdfs.protocol.HdfsConstants.SafeModeAction.SAFEMODE_LEAVE);
  }

  private void startNodeManager() {
    NodeManager fresh = new NodeManager();
    fresh.init(new YarnConfiguration(yarnConf));
    // Guice's servlet filter keeps one JVM-wide pipeline: the last web app started answers on
    // every port, so a NodeManager web app would hijack the ResourceManager's REST API.
    // MiniYARNCluster disables it for the same reason.
    fresh.disableWebServer();
    fresh.start();
    nm = fresh;
  }

  private int liveNodes() {
    ResourceManager current = rm;
    return current == null ? 0 : current.getResourceScheduler().getNumClusterNodes();
  }

  private void waitForNodes(int count, long timeoutMs) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (liveNodes() < count) {
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("no NodeManager registered with the ResourceManager within "
            + timeoutMs + " ms");
      }
      Thread.sleep(100);
    }
  }

  private String hdfsUrl() {
    return "hdfs://" + HOST + ":" + dfs.getNameNodePort();
  }

  private void writeClientConf() throws IOException {
    Configuration core = new Configuration(false);
    core.set("fs.defaultFS", hdfsUrl());
    core.set("hadoop.security.authentication", kerberos ? "kerberos" : "simple");
    if (kerberos) {
      core.set("hadoop.security.auth_to_local", AUTH_TO_LOCAL);
    }
    writeXml(core, "core-site.xml");

    Configuration hdfs = new Configuration(false);
    hdfs.set("dfs.namenode.rpc-address", HOST + ":" + dfs.getNameNodePort());
    hdfs.set("dfs.namenode.http-address", addr("nn-http-port"));
    hdfs.set("dfs.webhdfs.enabled", "true");
    hdfs.set("dfs.replication", "1");
    hdfs.set("dfs.blocksize", "16m");
    hdfs.set("dfs.permissions.enabled", "false");
    if (kerberos) {
      for (String key : new String[] {
          "dfs.namenode.kerberos.principal", "dfs.datanode.kerberos.principal",
          "dfs.block.access.token.enable", "dfs.http.policy"}) {
        hdfs.set(key, yarnConf.get(key));
      }
      // Clients check a NameNode's principal against this pattern.
      hdfs.set("dfs.namenode.kerberos.principal.pattern", "*");
    }
    writeXml(hdfs, "hdfs-site.xml");

    Configuration yarn = new Configuration(false);
    for (String key : new String[] {
        "yarn.resourcemanager.hostname", "yarn.resourcemanager.address",
        "yarn.resourcemanager.scheduler.address", "yarn.resourcemanager.resource-tracker.address",
        "yarn.resourcemanager.admin.address", "yarn.resourcemanager.webapp.address",
        "yarn.resourcemanager.recovery.enabled",
        "yarn.scheduler.minimum-allocation-mb", "yarn.scheduler.maximum-allocation-mb"}) {
      yarn.set(key, yarnConf.get(key));
    }
    // Clients (spark-submit, the gateway, Spark's AM) ride out a ResourceManager restart.
    yarn.set("yarn.resourcemanager.connect.max-wait.ms", "120000");
    yarn.set("yarn.resourcemanager.connect.retry-interval.ms", "1000");
    if (kerberos) {
      // spark-submit names the RM principal as the renewer of the HDFS delegation tokens it gets.
      yarn.set("yarn.resourcemanager.principal", servicePrincipal);
      yarn.set("yarn.nodemanager.principal", servicePrincipal);
    }
    writeXml(yarn, "yarn-site.xml");
  }

  private void writeXml(Configuration conf, String name) throws IOException {
    writeXml(conf, new File(confDir, name));
  }

  private static void writeXml(Configuration conf, File target) throws IOException {
    File tmp = new File(target.getParentFile(), target.getName() + ".tmp");
    try (OutputStream out = new FileOutputStream(tmp)) {
      conf.writeXml(out);
    }
    Files.move(tmp.toPath(), target.toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING,
        java.nio.file.StandardCopyOption.ATOMIC_MOVE);
  }

  // ---------------------------------------------------------------- control

  private void serve(BufferedReader in) throws IOException {
    String line;
    while ((line = in.readLine()) != null) {
      String command = line.trim();
      if (command.isEmpty()) {
        continue;
      }
      if (command.equals("stop")) {
        return;
      }
      try {
        switch (command) {
          case "stop-rm":
            stopResourceManager();
            proto.println("OK stop-rm");
            break;
          case "start-rm":
            if (rm == null) {
              startResourceManager();
            }
            waitForNodes(1, 120_000);
            proto.println("OK start-rm");
            break;
          case "stop-nn":
            stopNameNode();
            proto.println("OK stop-nn");
            break;
          case "start-nn":
            startNameNode();
            proto.println("OK start-nn");
            break;
          case "status":
            proto.println("OK status " + describe());
            break;
          default:
            proto.println("ERR " + command
                + " unknown command; expected stop-rm, start-rm, stop-nn, start-nn, status or stop");
        }
      } catch (Throwable t) {
        t.printStackTrace();
        proto.println("ERR " + command + " " + oneLine(t));
      }
    }
  }

  private String describe() {
    Map<String, Object> info = new LinkedHashMap<>();
    info.put("hdfs_url", hdfsUrl());
    info.put("webhdfs_url", "http://" + addr("nn-http-port"));
    info.put("rm_url", "http://" + addr("rm-webapp-port"));
    info.put("rm_address", addr("rm-port"));
    info.put("conf_dir", confDir.getAbsolutePath());
    info.put("rm_running", rm != null);
    info.put("nn_running", nameNodeUp);
    info.put("live_nodes", liveNodes());
    info.put("pid", ProcessHandle.current().pid());
    info.put("kerberos", kerberos);
    if (kerberos) {
      info.put("realm", REALM);
      info.put("kdc", HOST + ":" + kdc.getPort());
      info.put("krb5_conf", clientKrb5Conf.getAbsolutePath());
      info.put("user_principal", userPrincipal);
      info.put("user_keytab", userKeytab.getAbsolutePath());
      info.put("service_principal", servicePrincipal);
      info.put("service_keytab", serviceKeytab.getAbsolutePath());
      info.put("http_principal", "HTTP/" + HOST + "@" + REALM);
    }
    return toJson(info);
  }

  synchronized void shutdown() {
    if (shutDown) {
      return;
    }
    shutDown = true;
    if (nm != null) {
      quietly(this::dropScheduledLogDeletions);
      quietly(nm::stop);
    }
    quietly(this::stopResourceManager);
    if (dfs != null) {
      quietly(dfs::shutdown);
    }
    if (kdc != null) {
      quietly(kdc::stop);
    }
  }

  /**
   * Without log aggregation the NodeManager schedules each application's log deletion hours
   * ahead, and its stop then waits 10 s for those tasks. Dropping them on shutdown skips the wait
   * and keeps the container logs on disk for post-mortems. Best effort: if Hadoop's internals
   * differ, the stop is only slower.
   */
  private void dropScheduledLogDeletions() {
    Object manager = nm.getNMContext().getContainerManager();
    if (!(manager instanceof CompositeService)) {
      return;
    }
    for (Service service : ((CompositeService) manager).getServices()) {
      if (!service.getClass().getSimpleName().equals("NonAggregatingLogHandler")) {
        continue;
      }
      try {
        Field field = service.getClass().getDeclaredField("sched");
        field.setAccessible(true);
        Object sched = field.get(service);
        if (sched instanceof ScheduledThreadPoolExecutor) {
          ((ScheduledThreadPoolExecutor) sched).setExecuteExistingDelayedTasksAfterShutdownPolicy(false);
        }
      } catch (ReflectiveOperationException | RuntimeException e) {
        System.err.println("minicluster: cannot drop scheduled log deletions (" + e + "); stopping slowly");
      }
    }
  }

  // ---------------------------------------------------------------- helpers

  private static void quietly(Runnable step) {
    try {
      step.run();
    } catch (Throwable t) {
      t.printStackTrace();
    }
  }

  static String oneLine(Throwable t) {
    Throwable root = t;
    while (root.getCause() != null && root.getCause() != root) {
      root = root.getCause();
    }
    String text = root == t ? String.valueOf(t) : t + " (caused by " + root + ")";
    return text.replace('\n', ' ').replace('\r', ' ');
  }

  static String toJson(Map<String, Object> map) {
    StringBuilder sb = new StringBuilder("{");
    for (Map.Entry<String, Object> e : map.entrySet()) {
      if (sb.length() > 1) {
        sb.append(", ");
      }
      sb.append(quote(e.getKey())).append(": ");
      Object v = e.getValue();
      sb.append(v instanceof Number || v instanceof Boolean ? v.toString() : quote(String.valueOf(v)));
    }
    return sb.append('}').toString();
  }

  static String quote(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': sb.append("\\\""); break;
        case '\\': sb.append("\\\\"); break;
        default:
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    return sb.append('"').toString();
  }
}
