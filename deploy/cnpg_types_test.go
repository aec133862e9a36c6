package deploy

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The CloudNativePG API (postgresql.cnpg.io/v1) and its barman-cloud plugin's
// (barmancloud.cnpg.io/v1) are not modules the Go proxy serves, so the part of them
// these manifests use is declared here, field names and JSON tags as in their API
// reference (CloudNativePG 1.27, plugin-barman-cloud 0.6). Decoding is strict, so a
// misspelt field fails; a field that exists upstream but not here fails too, and is
// added here from the API reference when a manifest needs it.

type cnpgCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              cnpgClusterSpec `json:"spec"`
}

type cnpgClusterSpec struct {
	Instances             int                          `json:"instances"`
	ImageName             string                       `json:"imageName,omitempty"`
	PrimaryUpdateStrategy string                       `json:"primaryUpdateStrategy,omitempty"`
	EnableSuperuserAccess *bool                        `json:"enableSuperuserAccess,omitempty"`
	PostgresConfiguration cnpgPostgresConfiguration    `json:"postgresql,omitempty"`
	StorageConfiguration  cnpgStorageConfiguration     `json:"storage,omitempty"`
	WalStorage            *cnpgStorageConfiguration    `json:"walStorage,omitempty"`
	Resources             corev1.ResourceRequirements  `json:"resources,omitempty"`
	Affinity              cnpgAffinityConfiguration    `json:"affinity,omitempty"`
	Monitoring            *cnpgMonitoringConfiguration `json:"monitoring,omitempty"`
	Managed               *cnpgManagedConfiguration    `json:"managed,omitempty"`
	Plugins               []cnpgPluginConfiguration    `json:"plugins,omitempty"`
}

type cnpgPostgresConfiguration struct {
	Parameters  map[string]string             `json:"parameters,omitempty"`
	Synchronous *cnpgSynchronousReplicaConfig `json:"synchronous,omitempty"`
}

type cnpgSynchronousReplicaConfig struct {
	Method string `json:"method"`
	Number int    `json:"number"`
}

type cnpgStorageConfiguration struct {
	StorageClass *string `json:"storageClass,omitempty"`
	Size         string  `json:"size,omitempty"`
}

type cnpgAffinityConfiguration struct {
	EnablePodAntiAffinity *bool  `json:"enablePodAntiAffinity,omitempty"`
	TopologyKey           string `json:"topologyKey,omitempty"`
	PodAntiAffinityType   string `json:"podAntiAffinityType,omitempty"`
}

type cnpgMonitoringConfiguration struct {
	EnablePodMonitor bool `json:"enablePodMonitor,omitempty"`
}

type cnpgManagedConfiguration struct {
	Roles []cnpgRoleConfiguration `json:"roles,omitempty"`
}

type cnpgRoleConfiguration struct {
	Name            string                    `json:"name"`
	Ensure          string                    `json:"ensure,omitempty"`
	Login           bool                      `json:"login,omitempty"`
	Superuser       bool                      `json:"superuser,omitempty"`
	BypassRLS       bool                      `json:"bypassrls,omitempty"`
	InRoles         []string                  `json:"inRoles,omitempty"`
	PasswordSecret  *cnpgLocalObjectReference `json:"passwordSecret,omitempty"`
	ConnectionLimit int64                     `json:"connectionLimit,omitempty"`
}

type cnpgLocalObjectReference struct {
	Name string `json:"name"`
}

type cnpgPluginConfiguration struct {
	Name          string            `json:"name"`
	Enabled       *bool             `json:"enabled,omitempty"`
	IsWALArchiver *bool             `json:"isWALArchiver,omitempty"`
	Parameters    map[string]string `json:"parameters,omitempty"`
}

type cnpgScheduledBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              cnpgScheduledBackupSpec `json:"spec"`
}

type cnpgScheduledBackupSpec struct {
	Suspend              *bool                          `json:"suspend,omitempty"`
	Immediate            *bool                          `json:"immediate,omitempty"`
	Schedule             string                         `json:"schedule"`
	Cluster              cnpgLocalObjectReference       `json:"cluster"`
	BackupOwnerReference string                         `json:"backupOwnerReference,omitempty"`
	Method               string                         `json:"method,omitempty"`
	PluginConfiguration  *cnpgBackupPluginConfiguration `json:"pluginConfiguration,omitempty"`
}

type cnpgBackupPluginConfiguration struct {
	Name       string            `json:"name"`
	Parameters map[string]string `json:"parameters,omitempty"`
}

type barmanObjectStore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              barmanObjectStoreSpec `json:"spec"`
}

type barmanObjectStoreSpec struct {
	Configuration   barmanObjectStoreConfiguration `json:"configuration"`
	RetentionPolicy string                         `json:"retentionPolicy,omitempty"`
}

type barmanObjectStoreConfiguration struct {
	DestinationPath string                   `json:"destinationPath"`
	EndpointURL     string                   `json:"endpointURL,omitempty"`
	S3Credentials   *barmanS3Credentials     `json:"s3Credentials,omitempty"`
	Wal             *barmanWalConfiguration  `json:"wal,omitempty"`
	Data            *barmanDataConfiguration `json:"data,omitempty"`
}

type barmanS3Credentials struct {
	AccessKeyIDReference     *barmanSecretKeySelector `json:"accessKeyId,omitempty"`
	SecretAccessKeyReference *barmanSecretKeySelector `json:"secretAccessKey,omitempty"`
	RegionReference          *barmanSecretKeySelector `json:"region,omitempty"`
	InheritFromIAMRole       bool                     `json:"inheritFromIAMRole,omitempty"`
}

type barmanSecretKeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type barmanWalConfiguration struct {
	Compression string `json:"compression,omitempty"`
	Encryption  string `json:"encryption,omitempty"`
	MaxParallel int    `json:"maxParallel,omitempty"`
}

type barmanDataConfiguration struct {
	Compression         string `json:"compression,omitempty"`
	Encryption          string `json:"encryption,omitempty"`
	ImmediateCheckpoint bool   `json:"immediateCheckpoint,omitempty"`
	Jobs                *int32 `json:"jobs,omitempty"`
}
