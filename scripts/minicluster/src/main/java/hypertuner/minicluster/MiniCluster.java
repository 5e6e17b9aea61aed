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
import java.util.concurrent.ScheduledThreadPoolExecutor;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileUtil;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.metrics2.lib.DefaultMetricsSystem;
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
 */
public final class MiniCluster {

  static final String HOST = "127.0.0.1";

  static final String USAGE = "usage: MiniCluster --work-dir DIR --conf-dir DIR"
      + " --nn-port P --nn-http-port P --dn-port P --dn-http-port P --dn-ipc-port P"
      + " --rm-port P --rm-scheduler-port P --rm-tracker-port P --rm-admin-port P"
      + " --rm-webapp-port P --nm-port P --nm-localizer-port P --nm-webapp-port P"
      + " [--nm-memory-mb 8192] [--nm-vcores 8] [--rm-recovery true|false] [--set key=value ...]";

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

  private MiniCluster(Map<String, String> opts, List<String[]> extra, PrintStream proto) {
    this.opts = opts;
    this.extra = extra;
    this.proto = proto;
    this.workDir = new File(required("work-dir")).getAbsoluteFile();
    this.confDir = new File(required("conf-dir")).getAbsoluteFile();
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
    return conf;
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
    core.set("hadoop.security.authentication", "simple");
    writeXml(core, "core-site.xml");

    Configuration hdfs = new Configuration(false);
    hdfs.set("dfs.namenode.rpc-address", HOST + ":" + dfs.getNameNodePort());
    hdfs.set("dfs.namenode.http-address", addr("nn-http-port"));
    hdfs.set("dfs.webhdfs.enabled", "true");
    hdfs.set("dfs.replication", "1");
    hdfs.set("dfs.blocksize", "16m");
    hdfs.set("dfs.permissions.enabled", "false");
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
    writeXml(yarn, "yarn-site.xml");
  }

  private void writeXml(Configuration conf, String name) throws IOException {
    File target = new File(confDir, name);
    File tmp = new File(confDir, name + ".tmp");
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
