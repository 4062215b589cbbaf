variable "endpoint" {
  description = "URL of the moto_server."
  type        = string
}

variable "include_network" {
  description = "Apply the network module."
  type        = bool
  default     = true
}

variable "include_codebuild" {
  description = "Apply the CodeBuild projects (moto 5.2: CreateProject wants a source location even for CODEPIPELINE)."
  type        = bool
  default     = false
}

variable "include_codecommit" {
  description = "Apply the CodeCommit repository (moto 5.2 answers CreationDate as a string the SDK refuses)."
  type        = bool
  default     = false
}

variable "include_pipeline" {
  description = "Apply the CodePipeline and its EventBridge rule (moto 5.2 answers timestamps as strings the SDK refuses)."
  type        = bool
  default     = false
}

variable "tmsync_binary_file" {
  description = "A file standing in for the tmsync binary: the tools module uploads it with the stage scripts."
  type        = string
  default     = null
}
