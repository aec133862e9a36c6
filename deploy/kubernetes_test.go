package deploy

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	natsserver "github.com/nats-io/nats-server/v2/server"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/firmflow/firmflow/pkg/keystore"
	"github.com/firmflow/firmflow/pkg/natsx"
)

// kinds are the API types the manifests may use, each decoded into its Go type.
var kinds = map[string]func() any{
	"v1/Namespace":                           func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":                      func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                             func() any { return &corev1.Service{} },
	"v1/ConfigMap":                           func() any { return &corev1.ConfigMap{} },
	"v1/PersistentVolumeClaim":               func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":                     func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":                    func() any { return &appsv1.StatefulSet{} },
	"batch/v1/Job":                           func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":          func() any { return &policyv1.PodDisruptionBudget{} },
	"autoscaling/v2/HorizontalPodAutoscaler": func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"networking.k8s.io/v1/NetworkPolicy":     func() any { return &networkingv1.NetworkPolicy{} },
	"cert-manager.io/v1/Issuer":              func() any { return &cmv1.Issuer{} },
	"cert-manager.io/v1/Certificate":         func() any { return &cmv1.Certificate{} },
	"postgresql.cnpg.io/v1/Cluster":          func() any { return &cnpgCluster{} },
	"postgresql.cnpg.io/v1/ScheduledBackup":  func() any { return &cnpgScheduledBackup{} },
	"barmancloud.cnpg.io/v1/ObjectStore":     func() any { return &barmanObjectStore{} },
}

// manifests are the objects one kustomization renders to, decoded.
type manifests struct {
	byKind map[string]map[string]any // kind -> name -> object
}

func get[T any](m manifests, kind, name string) (T, bool) {
	obj, ok := m.byKind[kind][name].(T)
	return obj, ok
}

func all[T any](m manifests, kind string) []T {
	var out []T
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range m.byKind[kind] {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, m.byKind[kind][name].(T))
	}
	return out
}

// render builds a kustomization as `kubectl apply -k` would and decodes every object
// strictly into its API type: an unknown or misspelt field is an error.
func render(dir string) (manifests, error) {
	m := manifests{byKind: map[string]map[string]any{}}
	res, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return m, err
	}
	var errs []error
	for _, r := range res.Resources() {
		gvk := r.GetGvk()
		key := gvk.ApiVersion() + "/" + gvk.Kind
		newObj, ok := kinds[key]
		if !ok {
			errs = append(errs, fmt.Errorf("%s %s: not a kind the manifests may use", key, r.GetName()))
			continue
		}
		data, err := r.AsYAML()
		if err != nil {
			return m, err
		}
		obj := newObj()
		if err := decodeStrict(data, obj); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", gvk.Kind, r.GetName(), err))
			continue
		}
		if m.byKind[gvk.Kind] == nil {
			m.byKind[gvk.Kind] = map[string]any{}
		}
		m.byKind[gvk.Kind][r.GetName()] = obj
	}
	if len(errs) > 0 {
		return m, fmt.Errorf("%v", errs)
	}
	return m, nil
}

// decodeStrict decodes as the API server does with strict field validation: field
// names match case-sensitively (encoding/json alone would take
// "enableSuperUserAccess" for "enableSuperuserAccess"), and an unknown or duplicate
// field is an error.
func decodeStrict(data []byte, obj any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := sigsjson.UnmarshalStrict(j, obj, sigsjson.DisallowUnknownFields, sigsjson.DisallowDuplicateFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func kubernetesDir(t testing.TB) string { return filepath.Join(repoRoot(t), "deploy", "kubernetes") }

// TestKubernetesOverlaysRenderAndHoldTheSystem renders the dev and production
// overlays offline, decodes every object strictly, and checks them against the code.
func TestKubernetesOverlaysRenderAndHoldTheSystem(t *testing.T) {
	services := workspaceServices(t)
	for _, overlay := range []string{"dev", "production"} {
		t.Run(overlay, func(t *testing.T) {
			m, err := render(filepath.Join(kubernetesDir(t), "overlays", overlay))
			if err != nil {
				t.Fatal(err)
			}
			for _, err := range checkKubernetes(m, services, overlay == "production") {
				t.Error(err)
			}
			checkNATSCluster(t, m, services)
		})
	}
}

// TestKubernetesRejectsMisspeltFields copies the manifests, misspells one field of a
// Kubernetes, a cert-manager and a CloudNativePG object in turn, and expects the
// rendering to fail naming it.
func TestKubernetesRejectsMisspeltFields(t *testing.T) {
	cases := []struct{ file, field, misspelt string }{
		{"base/services/identity.yaml", "readinessProbe:", "readinesProbe:"},
		{"base/services/audit.yaml", "  commonName: audit", "  comonName: audit"},
		{"base/postgres/pg-core.yaml", "enableSuperuserAccess:", "enableSuperUserAccess:"},
		{"base/postgres/pg-keys.yaml", "retentionPolicy:", "retention:"},
		{"base/nats/nats.yaml", "podManagementPolicy:", "podManagmentPolicy:"},
	}
	for _, tc := range cases {
		t.Run(tc.misspelt, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, kubernetesDir(t), dir)
			path := filepath.Join(dir, tc.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.field) {
				t.Fatalf("%s has no %q", tc.file, tc.field)
			}
			writeFile(t, path, strings.Replace(string(data), tc.field, tc.misspelt, 1))
			_, err = render(filepath.Join(dir, "overlays", "production"))
			want := strings.TrimSpace(strings.TrimSuffix(tc.misspelt, ":"))
			want, _, _ = strings.Cut(want, ":")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("render = %v, want an error naming %q", err, want)
			}
		})
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkKubernetes(m manifests, services []service, production bool) []error {
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	denyAll := false
	for _, np := range all[*networkingv1.NetworkPolicy](m, "NetworkPolicy") {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			len(np.Spec.Ingress) == 0 && slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
			denyAll = true
		}
	}
	if !denyAll {
		fail("no default-deny ingress NetworkPolicy")
	}

	callers := map[string][]string{}
	for _, s := range services {
		for _, p := range s.peers(services) {
			callers[p] = append(callers[p], s.name)
		}
	}
	databases := map[string]string{} // database -> cluster holding it
	for _, svc := range services {
		d, ok := get[*appsv1.Deployment](m, "Deployment", svc.name)
		if !ok {
			fail("no Deployment %q", svc.name)
			continue
		}
		errs = append(errs, checkDeployment(m, svc, services, d)...)
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == svc.name {
				env := containerEnv(c)
				if svc.database {
					databases[svc.name] = clusterOf(env["FIRMFLOW_"+strings.ToUpper(svc.name)+"_DATABASE_URL"])
				}
				if url := env["FIRMFLOW_KEYS_DATABASE_URL"]; url != "" {
					databases["keys"] = clusterOf(url)
				}
			}
		}
		if pdb, ok := get[*policyv1.PodDisruptionBudget](m, "PodDisruptionBudget", svc.name); !ok || pdb.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != svc.name {
			fail("%s: no PodDisruptionBudget selecting it", svc.name)
		}
		if hpa, ok := get[*autoscalingv2.HorizontalPodAutoscaler](m, "HorizontalPodAutoscaler", svc.name); !ok ||
			hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != svc.name {
			fail("%s: no HorizontalPodAutoscaler scaling it", svc.name)
		}
		errs = append(errs, checkServicePolicy(m, svc, callers[svc.name])...)
		errs = append(errs, checkCertificate(m, svc)...)
	}
	if _, ok := databases["keys"]; !ok {
		fail("no service connects to the key store")
	}
	for db, cluster := range databases {
		errs = append(errs, checkDatabase(m, db, cluster, production)...)
	}
	return errs
}

func checkDeployment(m manifests, svc service, services []service, d *appsv1.Deployment) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(svc.name+": "+format, args...))
	}
	pod := d.Spec.Template.Spec
	if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != svc.name || d.Spec.Template.Labels["app.kubernetes.io/name"] != svc.name {
		fail("selector and pod labels must name the service")
	}
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		fail("pod must run as non-root")
	}
	secretMounts := func(c corev1.Container) []string {
		var out []string
		for _, vm := range c.VolumeMounts {
			for _, v := range pod.Volumes {
				if v.Name == vm.Name && v.Secret != nil {
					out = append(out, vm.MountPath+"/")
				}
			}
		}
		return out
	}
	var main *corev1.Container
	for i, c := range pod.Containers {
		if c.Name == svc.name {
			main = &pod.Containers[i]
		}
	}
	if main == nil {
		fail("no container named %s", svc.name)
		return errs
	}
	check := func(c corev1.Container) {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			fail("container %s: no privilege escalation, a read-only root and no capabilities are required", c.Name)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if _, ok := c.Resources.Requests[r]; !ok {
				fail("container %s: no %s request", c.Name, r)
			}
			if _, ok := c.Resources.Limits[r]; !ok {
				fail("container %s: no %s limit", c.Name, r)
			}
		}
		if !strings.Contains(c.Image, "firmflow/"+svc.name) {
			fail("container %s: image %q is not firmflow/%s", c.Name, c.Image, svc.name)
		}
		env := containerEnv(c)
		errs = append(errs, checkServiceEnv(svc, services, env, composeHost)...)
		// Secrets are files in secret volumes, never values in the manifest.
		mounts := secretMounts(c)
		for name, value := range env {
			for _, path := range filePaths(value) {
				if !slices.ContainsFunc(mounts, func(m string) bool { return strings.HasPrefix(path, m) }) {
					fail("container %s: %s names %s, which is not in a mounted secret", c.Name, name, path)
				}
			}
		}
	}
	check(*main)
	migrate := slices.IndexFunc(pod.InitContainers, func(c corev1.Container) bool { return slices.Equal(c.Args, []string{"migrate"}) })
	if svc.database != (migrate >= 0) {
		fail("an init container running `migrate` is needed exactly when the service has a database (database: %v)", svc.database)
	}
	for _, c := range pod.InitContainers {
		check(c)
	}
	if !slices.Equal(main.Args, []string{"serve"}) {
		fail("main container args %v, want [serve]", main.Args)
	}
	_, adminPort, _ := net.SplitHostPort(containerEnv(*main)[svc.adminVar()])
	for _, p := range []struct {
		probe *corev1.Probe
		what  string
		path  string
	}{{main.ReadinessProbe, "readiness", "/readyz"}, {main.LivenessProbe, "liveness", "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			fail("%s probe must GET %s", p.what, p.path)
			continue
		}
		port := p.probe.HTTPGet.Port.String()
		for _, cp := range main.Ports {
			if cp.Name == port {
				port = fmt.Sprint(cp.ContainerPort)
			}
		}
		if port != adminPort {
			fail("%s probe on port %s, want the admin port %s", p.what, port, adminPort)
		}
	}
	return errs
}

// containerEnv is a container's environment; a value taken from a Secret by
// reference stands as a placeholder.
func containerEnv(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			env[e.Name] = "from-secret-" + e.ValueFrom.SecretKeyRef.Name
		}
	}
	return env
}

// filePaths are the files a variable's value names: a path, or a URL's sslrootcert.
func filePaths(value string) []string {
	if strings.HasPrefix(value, "/secrets/") {
		return []string{value}
	}
	if u, err := url.Parse(value); err == nil && u.Scheme == "postgres" {
		if p := u.Query().Get("sslrootcert"); p != "" {
			return []string{p}
		}
	}
	return nil
}

func clusterOf(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Hostname(), "-rw")
}

// checkServicePolicy: only the callers reach a service's gRPC port; only the
// gateway's public port is open to everyone.
func checkServicePolicy(m manifests, svc service, callers []string) []error {
	np, ok := get[*networkingv1.NetworkPolicy](m, "NetworkPolicy", svc.name)
	if !ok || np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != svc.name {
		return []error{fmt.Errorf("%s: no NetworkPolicy selecting it", svc.name)}
	}
	_, port, _ := net.SplitHostPort(svc.vars[svc.listenVar()].def)
	var open bool
	var from []string
	for _, rule := range np.Spec.Ingress {
		if !slices.ContainsFunc(rule.Ports, func(p networkingv1.NetworkPolicyPort) bool { return p.Port != nil && p.Port.String() == port }) {
			continue
		}
		if len(rule.From) == 0 {
			open = true
		}
		for _, peer := range rule.From {
			if peer.PodSelector != nil && peer.NamespaceSelector == nil && peer.IPBlock == nil {
				from = append(from, peer.PodSelector.MatchLabels["app.kubernetes.io/name"])
			} else {
				open = true
			}
		}
	}
	slices.Sort(from)
	slices.Sort(callers)
	if svc.name == "gateway" {
		if !open {
			return []error{fmt.Errorf("gateway: its public port %s must be reachable from outside", port)}
		}
		return nil
	}
	if open || !slices.Equal(from, callers) {
		return []error{fmt.Errorf("%s: port %s reachable from %v (open to all: %v), want exactly its callers %v", svc.name, port, from, open, callers)}
	}
	return nil
}

func checkCertificate(m manifests, svc service) []error {
	c, ok := get[*cmv1.Certificate](m, "Certificate", svc.name)
	if !ok {
		return []error{fmt.Errorf("%s: no Certificate", svc.name)}
	}
	var errs []error
	if c.Spec.CommonName != svc.name || !slices.Contains(c.Spec.DNSNames, svc.name) || c.Spec.SecretName != svc.name+"-tls" {
		errs = append(errs, fmt.Errorf("%s: certificate must name the service (common name, DNS name) and fill %s-tls", svc.name, svc.name))
	}
	if !slices.Contains(c.Spec.Usages, cmv1.UsageServerAuth) || !slices.Contains(c.Spec.Usages, cmv1.UsageClientAuth) {
		errs = append(errs, fmt.Errorf("%s: certificate must serve and authenticate clients (mTLS)", svc.name))
	}
	if _, ok := get[*cmv1.Issuer](m, "Issuer", c.Spec.IssuerRef.Name); !ok || c.Spec.IssuerRef.Kind != "Issuer" {
		errs = append(errs, fmt.Errorf("%s: certificate issued by %s %q, which is not rendered", svc.name, c.Spec.IssuerRef.Kind, c.Spec.IssuerRef.Name))
	}
	return errs
}

// checkDatabase: the cluster a database lives in has three instances (production),
// the database's two roles, archives WAL to an object store, is backed up on a
// schedule, and a provision job creates the database.
func checkDatabase(m manifests, db, cluster string, production bool) []error {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("database %s on %s: "+format, append([]any{db, cluster}, args...)...))
	}
	c, ok := get[*cnpgCluster](m, "Cluster", cluster)
	if !ok {
		fail("no CloudNativePG Cluster %q", cluster)
		return errs
	}
	if production && c.Spec.Instances != 3 {
		fail("%d instances, want 3", c.Spec.Instances)
	}
	roles := map[string]cnpgRoleConfiguration{}
	if c.Spec.Managed != nil {
		for _, r := range c.Spec.Managed.Roles {
			roles[r.Name] = r
		}
	}
	owner, runtime := db+"_owner", db+"_app"
	if db == "keys" {
		owner, runtime = keystore.Roles.Owner, keystore.Roles.Runtime
	}
	if r, ok := roles[owner]; !ok || !r.Login || !r.BypassRLS || r.Superuser || r.PasswordSecret == nil {
		fail("owner role %s must log in with a password and bypass RLS, and be no superuser", owner)
	}
	if r, ok := roles[runtime]; !ok || !r.Login || r.BypassRLS || r.Superuser || r.PasswordSecret == nil {
		fail("runtime role %s must log in with a password, under RLS, and be no superuser", runtime)
	}
	archiver := slices.IndexFunc(c.Spec.Plugins, func(p cnpgPluginConfiguration) bool {
		return p.IsWALArchiver != nil && *p.IsWALArchiver && p.Name == "barman-cloud.cloudnative-pg.io"
	})
	if archiver < 0 {
		fail("no barman-cloud WAL archiver")
	} else if store, ok := get[*barmanObjectStore](m, "ObjectStore", c.Spec.Plugins[archiver].Parameters["barmanObjectName"]); !ok ||
		!strings.HasPrefix(store.Spec.Configuration.DestinationPath, "s3://") || store.Spec.RetentionPolicy == "" {
		fail("WAL archive object store missing, not on S3 or without retention")
	}
	if c.Spec.PostgresConfiguration.Parameters["archive_timeout"] == "" {
		fail("archive_timeout unset: an idle database would archive its last writes late")
	}
	if !slices.ContainsFunc(all[*cnpgScheduledBackup](m, "ScheduledBackup"), func(b *cnpgScheduledBackup) bool {
		return b.Spec.Cluster.Name == cluster && b.Spec.Method == "plugin" && b.Spec.Schedule != ""
	}) {
		fail("no ScheduledBackup")
	}
	if !slices.ContainsFunc(all[*batchv1.Job](m, "Job"), func(j *batchv1.Job) bool {
		for _, ctr := range j.Spec.Template.Spec.Containers {
			env := containerEnv(ctr)
			if slices.Equal(ctr.Args, []string{"provision"}) && clusterOf(env["FIRMFLOW_DATABASE_URL"]) == cluster &&
				slices.Contains(strings.Split(env["FIRMFLOW_PROVISION_ONLY"], ","), db) {
				return true
			}
		}
		return false
	}) {
		fail("no Job running `firmflow provision` for it")
	}
	return errs
}

// checkNATSCluster: three JetStream servers routed to each other, and a job that
// raises every service's stream to three replicas.
func checkNATSCluster(t *testing.T, m manifests, services []service) {
	t.Helper()
	sts, ok := get[*appsv1.StatefulSet](m, "StatefulSet", "nats")
	if !ok || sts.Spec.Replicas == nil || *sts.Spec.Replicas != 3 {
		t.Fatal("NATS must be a StatefulSet of 3")
	}
	cm, ok := get[*corev1.ConfigMap](m, "ConfigMap", "nats-config")
	if !ok {
		t.Fatal("no nats-config ConfigMap")
	}
	conf := filepath.Join(t.TempDir(), "nats.conf")
	writeFile(t, conf, cm.Data["nats.conf"])
	t.Setenv("POD_NAME", "nats-0")
	opts, err := natsserver.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if !opts.JetStream || !opts.SyncAlways || opts.Cluster.Name == "" || len(opts.Routes) != int(*sts.Spec.Replicas) || opts.ServerName != "nats-0" {
		t.Errorf("nats.conf: JetStream %v, sync always %v, cluster %q with %d routes, server %q",
			opts.JetStream, opts.SyncAlways, opts.Cluster.Name, len(opts.Routes), opts.ServerName)
	}
	job, ok := get[*batchv1.Job](m, "Job", "nats-streams")
	if !ok {
		t.Fatal("no nats-streams Job")
	}
	env := containerEnv(job.Spec.Template.Spec.Containers[0])
	if env["REPLICAS"] != "3" {
		t.Errorf("stream replicas %q, want 3", env["REPLICAS"])
	}
	streams := strings.Fields(env["STREAMS"])
	for _, s := range services {
		if name := natsx.ServiceStream(s.name, false, natsx.DefaultStreamMaxAge).Name; !slices.Contains(streams, name) {
			t.Errorf("stream %s (%s) is not raised to 3 replicas", name, s.name)
		}
	}
}

// TestKubernetesCheckCatchesMistakes breaks the rendered production manifests in the
// ways the checks are for, one at a time, and expects each to be named.
func TestKubernetesCheckCatchesMistakes(t *testing.T) {
	services := workspaceServices(t)
	dir := filepath.Join(kubernetesDir(t), "overlays", "production")
	container := func(m manifests, svc string) *corev1.Container {
		d, _ := get[*appsv1.Deployment](m, "Deployment", svc)
		return &d.Spec.Template.Spec.Containers[0]
	}
	cases := []struct {
		name   string
		mutate func(m manifests)
		want   string
	}{
		{"misspelt variable", func(m manifests) {
			c := container(m, "workflow")
			for i := range c.Env {
				if c.Env[i].Name == "FIRMFLOW_WORKFLOW_DATABASE_URL" {
					c.Env[i].Name = "FIRMFLOW_WORKFLOW_DATABSE_URL"
				}
			}
		}, "FIRMFLOW_WORKFLOW_DATABSE_URL"},
		{"caller left out", func(m manifests) {
			np, _ := get[*networkingv1.NetworkPolicy](m, "NetworkPolicy", "identity")
			np.Spec.Ingress[0].From = np.Spec.Ingress[0].From[:1]
		}, "identity: port 9101 reachable from"},
		{"service open to all", func(m manifests) {
			np, _ := get[*networkingv1.NetworkPolicy](m, "NetworkPolicy", "billing")
			np.Spec.Ingress[0].From = nil
		}, "billing: port 9104"},
		{"no migrate step", func(m manifests) {
			d, _ := get[*appsv1.Deployment](m, "Deployment", "audit")
			d.Spec.Template.Spec.InitContainers = nil
		}, "audit: an init container running `migrate`"},
		{"readiness on the wrong port", func(m manifests) {
			c := container(m, "lifecycle")
			c.ReadinessProbe.HTTPGet.Port = intstr.FromString("grpc")
		}, "lifecycle: readiness probe on port"},
		{"secret path not mounted", func(m manifests) {
			c := container(m, "identity")
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == "kek" })
		}, "FIRMFLOW_KEK_FILE names /secrets/kek/kek"},
		{"writable root", func(m manifests) {
			f := false
			container(m, "gateway").SecurityContext.ReadOnlyRootFilesystem = &f
		}, "gateway: container gateway: no privilege escalation"},
		{"runtime role bypasses RLS", func(m manifests) {
			c, _ := get[*cnpgCluster](m, "Cluster", "pg-billing")
			for i := range c.Spec.Managed.Roles {
				c.Spec.Managed.Roles[i].BypassRLS = true
			}
		}, "runtime role billing_app"},
		{"database not provisioned", func(m manifests) {
			j, _ := get[*batchv1.Job](m, "Job", "pg-keys-provision")
			j.Spec.Template.Spec.Containers[0].Env[1].Value = "identity"
		}, "database keys on pg-keys: no Job"},
		{"no backup", func(m manifests) { delete(m.byKind["ScheduledBackup"], "pg-audit-nightly") }, "database audit on pg-audit: no ScheduledBackup"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := render(dir)
			if err != nil {
				t.Fatal(err)
			}
			if errs := checkKubernetes(m, services, true); len(errs) != 0 {
				t.Fatalf("the manifests themselves fail: %v", errs)
			}
			tc.mutate(m)
			errs := checkKubernetes(m, services, true)
			if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), tc.want) }) {
				t.Errorf("errors %v, want one naming %q", errs, tc.want)
			}
		})
	}
}
