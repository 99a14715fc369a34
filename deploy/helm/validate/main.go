// titan-validate: checks rendered Kubernetes manifests offline, strictly.
//
// Built-in kinds are decoded into the typed k8s.io/api objects with the API machinery's
// strict decoder (the one `kubectl apply --validate=strict` relies on server side): an
// unknown or duplicated field, a wrong type or an unknown apiVersion/kind is an error.
// Workloads, Services and PodDisruptionBudgets also get the checks of required.go (a
// selector that matches the pod labels, containers with a name and an image, ...).
// Custom resources (ServiceMonitor, KafkaTopic, ScaledObject, TriggerAuthentication) are
// checked against the JSON schemas in schemas/, written from the operators' CRDs with
// additionalProperties false, so a misspelt field fails there too. Any other kind fails:
// an object nobody can check is not passed silently.
//
// Usage: titan-validate FILE... ("-" reads standard input). Exit 1 and one line per
// invalid object when any is invalid.
package main

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// customSchemas maps apiVersion/kind of each custom resource to its schema file.
var customSchemas = map[string]string{
	"monitoring.coreos.com/v1/ServiceMonitor": "schemas/servicemonitor.json",
	"kafka.strimzi.io/v1beta2/KafkaTopic":     "schemas/kafkatopic.json",
	"keda.sh/v1alpha1/ScaledObject":           "schemas/scaledobject.json",
	"keda.sh/v1alpha1/TriggerAuthentication":  "schemas/triggerauthentication.json",
}

type validator struct {
	scheme  *runtime.Scheme
	decoder *kjson.Serializer
	schemas map[string]*jsonschema.Schema
}

func newValidator() (*validator, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme,
		autoscalingv2.AddToScheme, networkingv1.AddToScheme, rbacv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	decoder := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: false, Pretty: false, Strict: true})
	compiler := jsonschema.NewCompiler()
	schemas := map[string]*jsonschema.Schema{}
	for gvk, file := range customSchemas {
		raw, err := schemaFiles.ReadFile(file)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if err := compiler.AddResource(file, doc); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		compiled, err := compiler.Compile(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		schemas[gvk] = compiled
	}
	return &validator{scheme: scheme, decoder: decoder, schemas: schemas}, nil
}

// check validates one object given as JSON.
func (v *validator) check(doc []byte) (string, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(doc, &head); err != nil {
		return "?", err
	}
	label := fmt.Sprintf("%s %s/%s", head.APIVersion, head.Kind, head.Metadata.Name)
	if head.APIVersion == "" || head.Kind == "" || head.Metadata.Name == "" {
		return label, errors.New("apiVersion, kind and metadata.name are required")
	}
	if compiled, ok := v.schemas[head.APIVersion+"/"+head.Kind]; ok {
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
		if err != nil {
			return label, err
		}
		return label, compiled.Validate(inst)
	}
	gv, err := schema.ParseGroupVersion(head.APIVersion)
	if err != nil {
		return label, err
	}
	if !v.scheme.Recognizes(gv.WithKind(head.Kind)) {
		return label, errors.New("unknown apiVersion/kind: no schema to check it against")
	}
	obj, _, err := v.decoder.Decode(doc, nil, nil)
	if err != nil {
		return label, err
	}
	return label, required(obj)
}

// document is one object of a stream as JSON, or why it could not be read.
type document struct {
	json []byte
	err  error
}

// documents splits a multi-document YAML stream into JSON documents, skipping empty ones;
// a document that is not valid YAML is kept with its error, the others still checked.
func documents(r io.Reader) ([]document, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(r))
	var docs []document
	for {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		// YAMLToJSONStrict: a key given twice in one mapping is an error, not a silent win.
		js, err := yaml.YAMLToJSONStrict(chunk)
		if err != nil {
			docs = append(docs, document{err: err})
			continue
		}
		if t := bytes.TrimSpace(js); bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("{}")) {
			continue
		}
		docs = append(docs, document{json: js})
	}
}

func run(paths []string, out io.Writer) (int, error) {
	v, err := newValidator()
	if err != nil {
		return 0, err
	}
	invalid, total := 0, 0
	for _, path := range paths {
		var r io.Reader
		if path == "-" {
			r = os.Stdin
		} else {
			f, err := os.Open(path)
			if err != nil {
				return 0, err
			}
			defer f.Close()
			r = f
		}
		docs, err := documents(r)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		for _, doc := range docs {
			total++
			label, err := "?", doc.err
			if err == nil {
				label, err = v.check(doc.json)
			}
			if err != nil {
				invalid++
				msg := strings.ReplaceAll(err.Error(), "\n", "; ")
				fmt.Fprintf(out, "INVALID %s: %s: %s\n", path, label, msg)
			}
		}
	}
	fmt.Fprintf(out, "%d objects, %d invalid\n", total, invalid)
	if total == 0 {
		// An empty render (a failed helm template piped in) must not pass as valid.
		return 0, errors.New("no objects to check")
	}
	return invalid, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: titan-validate FILE... (- for standard input)")
		os.Exit(2)
	}
	invalid, err := run(os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "titan-validate:", err)
		os.Exit(2)
	}
	if invalid > 0 {
		os.Exit(1)
	}
}
