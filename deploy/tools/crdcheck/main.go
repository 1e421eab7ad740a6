// Command vigie-crdcheck validates CustomResourceDefinitions and custom resources offline with
// the Kubernetes API server's own code (k8s.io/apiextensions-apiserver): a CRD must pass the
// checks the API server runs when it is created (structural schema, CEL rules that compile within
// their cost budget, printer columns, ...), and a resource must pass its CRD's OpenAPI schema,
// its CEL rules (x-kubernetes-validations) and carry no field the schema would prune.
//
//	vigie-crdcheck CRD.yaml... [-- RESOURCE.yaml...]
//
// Prints one line per problem and exits 1 if there is any.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	crdvalidation "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/validation"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

type version struct {
	schema     *apiextensions.JSONSchemaProps
	structural *structuralschema.Structural
}

func documents(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) > 0 && strings.TrimSpace(stripComments(doc)) != "" {
			out = append(out, doc)
		}
	}
}

func stripComments(doc []byte) string {
	var b strings.Builder
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

func main() {
	crdFiles, crFiles := os.Args[1:], []string{}
	for i, a := range os.Args[1:] {
		if a == "--" {
			crdFiles, crFiles = os.Args[1:i+1], os.Args[i+2:]
			break
		}
	}
	problems := 0
	report := func(where string, errs field.ErrorList) {
		for _, e := range errs {
			fmt.Printf("%s: %s\n", where, e.Error())
			problems++
		}
	}
	versions := map[string]version{} // "<group>/<version>/<Kind>"
	for _, path := range crdFiles {
		docs, err := documents(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			os.Exit(2)
		}
		for _, doc := range docs {
			v1 := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, v1); err != nil {
				fmt.Printf("%s: %v\n", path, err)
				problems++
				continue
			}
			apiextensionsv1.SetObjectDefaults_CustomResourceDefinition(v1)
			crd := &apiextensions.CustomResourceDefinition{}
			if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(v1, crd, nil); err != nil {
				fmt.Printf("%s: %v\n", path, err)
				problems++
				continue
			}
			report(path+" ("+crd.Name+")", crdvalidation.ValidateCustomResourceDefinition(context.Background(), crd))
			for _, ver := range crd.Spec.Versions {
				s := ver.Schema
				if s == nil {
					s = crd.Spec.Validation
				}
				structural, err := structuralschema.NewStructural(s.OpenAPIV3Schema)
				if err != nil {
					fmt.Printf("%s: %v\n", path, err)
					problems++
					continue
				}
				versions[crd.Spec.Group+"/"+ver.Name+"/"+crd.Spec.Names.Kind] = version{s.OpenAPIV3Schema, structural}
			}
		}
	}
	for _, path := range crFiles {
		docs, err := documents(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			os.Exit(2)
		}
		for _, doc := range docs {
			var obj map[string]interface{}
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				fmt.Printf("%s: %v\n", path, err)
				problems++
				continue
			}
			apiVersion, _ := obj["apiVersion"].(string)
			kind, _ := obj["kind"].(string)
			name := ""
			if meta, ok := obj["metadata"].(map[string]interface{}); ok {
				name, _ = meta["name"].(string)
			}
			where := fmt.Sprintf("%s %s/%s", path, kind, name)
			v, ok := versions[apiVersion+"/"+kind]
			if !ok {
				fmt.Printf("%s: no CRD given for %s %s\n", where, apiVersion, kind)
				problems++
				continue
			}
			validator, _, err := apiservervalidation.NewSchemaValidator(v.schema)
			if err != nil {
				fmt.Printf("%s: %v\n", where, err)
				problems++
				continue
			}
			report(where, apiservervalidation.ValidateCustomResource(nil, obj, validator))
			pruned := pruning.PruneWithOptions(deepCopy(obj), v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
			for _, p := range pruned {
				fmt.Printf("%s: unknown field %q (the API server would drop it)\n", where, p)
				problems++
			}
			errs, _ := cel.NewValidator(v.structural, true, celconfig.PerCallLimit).Validate(
				context.Background(), nil, v.structural, obj, nil, celconfig.RuntimeCELCostBudget)
			report(where, errs)
		}
	}
	if problems > 0 {
		os.Exit(1)
	}
	fmt.Printf("crdcheck: %d CRD file(s), %d resource file(s): valid\n", len(crdFiles), len(crFiles))
}

func deepCopy(in map[string]interface{}) map[string]interface{} {
	data, _ := yaml.Marshal(in)
	var out map[string]interface{}
	_ = yaml.Unmarshal(data, &out)
	return out
}
